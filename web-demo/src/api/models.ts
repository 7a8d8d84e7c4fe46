// Response shapes of the LycheeMem API that the demo reads (API.md). Request bodies and the
// models the server declares come from the generated `types.gen.ts`; routes that answer with a
// free-form object are described here by hand.
import type { components } from "./types.gen";

type Schemas = components["schemas"];
export type TokenPublic = Schemas["TokenPublic"];
export type MePublic = Schemas["MePublic"];
export type UserCreate = Schemas["UserCreate"];
export type LoginCreate = Schemas["LoginCreate"];
export type ChatRequest = Schemas["ChatRequest"];
export type FeedbackCreate = Schemas["FeedbackCreate"];
export type SessionMetaUpdate = Schemas["SessionMetaUpdate"];

export type StepName = "wm_manager" | "search" | "synthesize" | "reason";
export const STEP_NAMES: readonly StepName[] = ["wm_manager", "search", "synthesize", "reason"];

export interface PipelineStatus {
  session_count: number;
  graph_node_count: number;
  skill_count: number;
  record_count: number;
  composite_count: number;
  queued_jobs: number;
  running_jobs: number;
  failed_jobs: number;
  mode: "llm" | "memory_only";
  llm_model: string | null;
  embedding_model: string;
  version: string;
}

export interface SessionSummary {
  session_id: string;
  turn_count: number;
  last_message: string;
  title: string;
  topic: string | null;
  tags: string[];
  created_at: string;
  updated_at: string;
  consolidated_until: number;
}

export interface Turn {
  turn_index: number;
  role: "user" | "assistant";
  content: string;
  token_count: number;
  created_at: string;
  compressed: boolean;
  metadata?: TurnMetadata | null;
}

export interface SessionView {
  session_id: string;
  topic: string | null;
  turns: Turn[];
  turn_count: number;
  active_turn_count: number;
  summaries: { boundary_index: number; content: string; token_count: number; created_at: string }[];
  wm_max_tokens: number;
  wm_current_tokens: number;
  consolidated_until: number;
  feedback?: Record<string, FeedbackLabel>;
}

// --- Turn history (web demo issue 16) ---------------------------------------------------
// The assistant turn's metadata keeps what the chat showed with the answer, and the session
// view reports the feedback given so far (`GET /memory/session/{id}`). Also added for it:
// `Turn.metadata`, `SessionView.feedback` and the provenance lineage fields
// (`source_session_id`, `source_turn_ids`, `sources`) the server already sends.

export type FeedbackLabel = "positive" | "negative" | "correction";

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

export interface SourceRef {
  session_id: string;
  turn_ids: number[];
  turn_refs: string[];
}

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

export interface ConsolidationStatus {
  status: "pending" | "running" | "done" | "skipped" | "failed" | "none";
  job_id: string | null;
  records_added: number;
  records_merged: number;
  records_updated: number;
  composites_created: number;
  skills_added: number;
  turns_consolidated: number;
  skipped_reason: string | null;
  steps: { step: string; status: string; detail: string; ms: number }[];
  error: string | null;
}

export interface GraphNode {
  id: string;
  name: string;
  label: string;
  node_kind: "record" | "composite";
  level: number;
  properties: { semantic_text: string; memory_type: string; expired: boolean; confidence: number };
}

export interface MemoryGraph {
  nodes: GraphNode[];
  edges: { source: string; target: string; relation: string }[];
  tree_roots: string[];
  stats: { record_count: number; composite_count: number };
  truncated: boolean;
}

export interface MemoryItem {
  kind: "record" | "composite";
  record_id: string;
  memory_type: string;
  semantic_text: string;
  normalized_text: string;
  entities: string[];
  temporal: { t_ref: string | null; t_valid_from: string | null; t_valid_to: string | null };
  task_tags: string[];
  tool_tags: string[];
  constraint_tags: string[];
  failure_tags: string[];
  affordance_tags: string[];
  confidence: number;
  sources: SourceRef[];
  created_at: string;
  updated_at: string;
  version?: number;
  retrieval_count: number;
  retrieval_hit_count: number;
  action_success_count: number;
  action_fail_count: number;
  expired: boolean;
  expired_at: string | null;
  expired_reason: string | null;
  superseded_by?: string | null;
  parents: string[];
  children: { child_composite_ids: string[]; direct_record_ids: string[] } | null;
  history: { semantic_text: string; replaced_at: string; reason: string }[];
}

export interface Skill {
  skill_id: string;
  intent: string;
  doc_markdown: string;
  conditions: string;
  success_count: number;
  usage_count: number;
  updated_at: string;
}
