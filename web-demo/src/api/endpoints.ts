// One function per API route the demo uses.
import { api, getJson, query, send } from "./client";
import type {
  ConsolidationStatus,
  FeedbackCreate,
  GraphSearch,
  LoginCreate,
  MePublic,
  MemoryGraph,
  MemoryItem,
  PipelineStatus,
  SessionsPage,
  SessionView,
  SkillsPage,
  TokenPublic,
  UserCreate,
} from "./models";

const enc = encodeURIComponent;

export const login = (body: LoginCreate) => api<TokenPublic>("POST", "/auth/login", body);
export const register = (body: UserCreate) => api<TokenPublic>("POST", "/auth/register", body);
export const me = () => getJson<MePublic>("/auth/me");

/** The status route without a token: 200 means anonymous use is allowed. */
export async function anonymousAllowed(): Promise<boolean> {
  try {
    const response = await fetch("/pipeline/status");
    return response.ok;
  } catch {
    return false;
  }
}

export const pipelineStatus = () => getJson<PipelineStatus>("/pipeline/status");
export const lastConsolidation = (sessionId: string) =>
  getJson<ConsolidationStatus>(`/pipeline/last-consolidation${query({ session_id: sessionId })}`);

export const listSessions = () =>
  getJson<SessionsPage>(`/sessions${query({ limit: 100 })}`);
export const getSession = (sessionId: string) => getJson<SessionView>(`/memory/session/${enc(sessionId)}`);
export const renameSession = (sessionId: string, topic: string) =>
  api<unknown>("PATCH", `/memory/session/${enc(sessionId)}/meta`, { topic });
export const deleteSession = (sessionId: string, forgetMemories: boolean) =>
  api<unknown>("DELETE", `/memory/session/${enc(sessionId)}${query({ forget_memories: forgetMemories })}`);

export const sendFeedback = (body: FeedbackCreate) => api<unknown>("POST", "/memory/feedback", body);

export const memoryGraph = (includeExpired: boolean) =>
  getJson<MemoryGraph>(`/memory/graph${query({ mode: "cleaned", include_expired: includeExpired })}`);
export const searchGraph = (q: string) =>
  getJson<GraphSearch>(`/memory/graph/search${query({ q, top_k: 50 })}`);
export const clearGraph = () => api<unknown>("DELETE", "/memory/graph/clear");

export const getRecord = (itemId: string) => getJson<MemoryItem>(`/memory/records/${enc(itemId)}`);
export const deleteRecord = (itemId: string) => api<unknown>("DELETE", `/memory/records/${enc(itemId)}`);

export const listSkills = () => getJson<SkillsPage>(`/memory/skills${query({ limit: 500 })}`);
export const deleteSkill = (skillId: string) => api<unknown>("DELETE", `/memory/skills/${enc(skillId)}`);
export const clearSkills = () => api<unknown>("DELETE", "/memory/skills/clear");

/** Download the caller's memory as a JSONL file through a temporary object URL. */
export async function downloadExport(): Promise<void> {
  const response = await send("GET", `/memory/export${query({ include_sessions: true })}`);
  const blob = await response.blob();
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? "lycheemem-export.jsonl";
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
