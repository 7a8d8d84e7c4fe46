// Shapes of the LycheeMem API that the demo reads (API.md). Every request and response body is
// generated from the server's OpenAPI document into `types.gen.ts` (`npm run gen:api`) and only
// re-exported here under the names the components use. Written by hand are the server-sent
// events of `POST /chat` and the pipeline trace they carry (OpenAPI describes the stream only
// as `text/event-stream`), and the answer metadata the demo stores on its own turns.
import type { components } from "./types.gen";

type Schemas = components["schemas"];
export type TokenPublic = Schemas["TokenPublic"];
export type MePublic = Schemas["MePublic"];
export type UserCreate = Schemas["UserCreate"];
export type LoginCreate = Schemas["LoginCreate"];
export type ChatRequest = Schemas["ChatRequest"];
export type FeedbackCreate = Schemas["FeedbackCreate"];
export type SessionMetaUpdate = Schemas["SessionMetaUpdate"];
export type PipelineStatus = Schemas["PipelineStatusPublic"];
export type SessionSummary = Schemas["SessionSummaryPublic"];
export type SessionsPage = Schemas["SessionsPublic"];
export type ConsolidationStatus = Schemas["ConsolidationPublic"];
export type GraphNode = Schemas["GraphNodePublic"];
export type MemoryGraph = Schemas["MemoryGraphPublic"];
export type GraphSearch = Schemas["GraphSearchPublic"];
export type MemoryItem = Schemas["MemoryItemDetail"];
export type SourceRef = Schemas["SourceRefPublic"];
export type Skill = Schemas["SkillPublic"];
export type SkillsPage = Schemas["SkillsPublic"];
export type FeedbackLabel = FeedbackCreate["feedback"];
const FEEDBACK_LABELS: readonly string[] = ["positive", "negative", "correction"] satisfies FeedbackLabel[];

/** A stored feedback value as a label the demo knows, or null. */
export function asFeedbackLabel(value: string | null | undefined): FeedbackLabel | null {
  return value && FEEDBACK_LABELS.includes(value) ? (value as FeedbackLabel) : null;
}

// Response models let undeclared fields through (`[key: string]: unknown`); `Known` keeps only
// the declared ones so `Omit` below does not widen every field to `unknown`.
type Known<T> = { [K in keyof T as string extends K ? never : K]: T[K] };

// A turn's `metadata` is free-form JSON on the wire; the demo reads back what it stored there.
export type Turn = Omit<Known<Schemas["TurnPublic"]>, "metadata"> & { metadata?: TurnMetadata | null };
export type SessionView = Omit<Known<Schemas["SessionViewPublic"]>, "turns"> & { turns: Turn[] };

export type StepName = "wm_manager" | "search" | "synthesize" | "reason";
export const STEP_NAMES: readonly StepName[] = ["wm_manager", "search", "synthesize", "reason"];

// --- Turn history (web demo issue 16) ---------------------------------------------------
// The assistant turn's metadata keeps what the chat showed with the answer, and the session
// view reports the feedback given so far (`GET /memory/session/{id}`). Also added for it:
// `Turn.metadata`, `SessionView.feedback` and the provenance lineage fields
// (`source_session_id`, `source_turn_ids`, `sources`) the server already sends.

export interface AnswerMetadata {
  mode: "llm" | "memory_only";
  usage_log_id: string | null;
  trace: PipelineTrace;
}

export interface TurnMetadata {
  answer?: AnswerMetadata;
  [key: string]: unknown;
}
// -----------------------------------------------------------------------------------------

export interface SynthesisProvenance {
  index: number;
  source: "semantic" | "skill";
  record_id?: string | null;
  skill_id?: string | null;
  memory_type?: string | null;
  semantic_text?: string | null;
  intent?: string | null;
  score: number;
  relevance?: number;
  source_session_id?: string | null;
  source_turn_ids?: number[];
  sources?: SourceRef[];
}

export interface RetrievalPlan {
  mode: string;
  semantic_queries: string[];
  pragmatic_queries: string[];
  tree_retrieval_mode: string;
  tree_expansion_depth: number;
  planner: string;
}

export interface PipelineTrace {
  wm_manager?: {
    wm_token_usage: number;
    wm_max_tokens: number;
    compressed_turn_count: number;
    raw_recent_turn_count: number;
    compression_happened: boolean;
    compression_mode: string;
  };
  search_coordinator?: {
    graph_memories: { node_id: string; name: string; label: string; score: number }[];
    skills: { skill_id: string; intent: string; score: number; reusable: boolean }[];
    total_retrieved: number;
    retrieval_plan: RetrievalPlan;
    usage_log_id: string | null;
  };
  synthesizer?: {
    background_context: string;
    provenance: SynthesisProvenance[];
    kept_count: number;
    dropped_count: number;
    judge: string;
  };
  reasoner?: { response_length: number; mode: string };
  consolidator?: { status: string; job_id: string | null };
}

export interface DoneEvent {
  type: "done";
  session_id: string;
  memories_retrieved: number;
  wm_token_usage: number;
  mode: "llm" | "memory_only";
  consolidation_job_id: string | null;
  trace: PipelineTrace;
}

export type ChatEvent =
  | { type: "step"; step: StepName; status: string; trace_fragment?: PipelineTrace }
  | { type: "token"; content: string }
  | { type: "answer"; content: string }
  | DoneEvent
  | { type: "error"; code: string; message: string; step?: string; retryable?: boolean; trace_id?: string };

