import { useEffect, useMemo, useState } from "react";
import { clearGraph, memoryGraph, searchGraph } from "../api/endpoints";
import type { GraphNode, MemoryGraph } from "../api/models";
import { errorText, MEMORY_TYPE_COLORS, typeColor } from "../format";
import { useAsync } from "../hooks/useAsync";
import { useConfirm } from "../hooks/useConfirm";

interface Tree {
  nodes: Map<string, GraphNode>;
  children: Map<string, string[]>;
  roots: string[];
}

function buildTree(graph: MemoryGraph): Tree {
  const nodes = new Map(graph.nodes.map((node) => [node.id, node]));
  const children = new Map<string, string[]>();
  for (const edge of graph.edges) {
    children.set(edge.source, [...(children.get(edge.source) ?? []), edge.target]);
  }
  return { nodes, children, roots: graph.tree_roots.filter((id) => nodes.has(id)) };
}

/** Search matches as a set of ids; empty query → null (no filtering). */
function useMatches(query: string, version: number): { matches: Set<string> | null; error: string | null } {
  const [matches, setMatches] = useState<Set<string> | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const text = query.trim();
    if (!text) {
      setMatches(null);
      return;
    }
    let live = true;
    const timer = setTimeout(() => {
      searchGraph(text)
        .then((result) => live && (setMatches(new Set(result.nodes.map((node) => node.id))), setError(null)))
        .catch((reason: unknown) => live && setError(errorText(reason)));
    }, 250);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [query, version]);
  return { matches, error };
}

interface NodeProps {
  id: string;
  tree: Tree;
  depth: number;
  matches: Set<string> | null;
  expandAll: boolean;
  onOpen: (id: string) => void;
}

function TreeNode({ id, tree, depth, matches, expandAll, onOpen }: NodeProps) {
  const [open, setOpen] = useState(depth === 0);
  const node = tree.nodes.get(id);
  if (!node) return null;
  const kids = tree.children.get(id) ?? [];
  const expanded = open || expandAll;
  const type = node.properties.memory_type || node.label;
  const hit = matches?.has(id) ?? false;
  return (
    <li>
      <div
        className={`tree-row${hit ? " match" : ""}${node.properties.expired ? " expired" : ""}`}
        data-testid="tree-node"
        data-kind={node.node_kind}
        data-type={type}
        data-id={id}
        data-match={hit ? "true" : "false"}
        style={{ paddingLeft: depth * 16 }}
      >
        {kids.length > 0 ? (
          <button type="button" className="icon toggle" aria-expanded={expanded} aria-label={`${expanded ? "Collapse" : "Expand"} ${node.name}`} onClick={() => setOpen(!open)}>
            {expanded ? "▾" : "▸"}
          </button>
        ) : (
          <span className="toggle-spacer" />
        )}
        <span className="type-dot" style={{ background: typeColor(type) }} aria-hidden="true" />
        <button type="button" className="tree-label" onClick={() => onOpen(id)} title={node.properties.semantic_text}>
          {node.name}
        </button>
        <span className="muted small">{node.node_kind === "composite" ? `L${node.level} ${type}` : type}</span>
      </div>
      {expanded && kids.length > 0 && (
        <ul>
          {kids.map((child) => (
            <TreeNode key={child} id={child} tree={tree} depth={depth + 1} matches={matches} expandAll={expandAll} onOpen={onOpen} />
          ))}
        </ul>
      )}
    </li>
  );
}

function Legend({ types }: { types: Set<string> }) {
  const shown = Object.keys(MEMORY_TYPE_COLORS).filter((type) => types.has(type));
  return (
    <div className="legend" role="group" aria-label="Legend">
      {shown.map((type) => (
        <span key={type} className="legend-item">
          <span className="type-dot" style={{ background: typeColor(type) }} aria-hidden="true" /> {type}
        </span>
      ))}
    </div>
  );
}

interface MemoryTreePanelProps {
  version: number;
  onOpen: (id: string) => void;
  onChanged: () => void;
}

/** The caller's memory tree: roots → composites → records, with search and clear-all. */
export function MemoryTreePanel({ version, onOpen, onChanged }: MemoryTreePanelProps) {
  const [showExpired, setShowExpired] = useState(false);
  const [query, setQuery] = useState("");
  const [clearError, setClearError] = useState<string | null>(null);
  const confirm = useConfirm();
  const graph = useAsync(() => memoryGraph(showExpired), [showExpired, version]);
  const { matches, error: searchError } = useMatches(query, version);
  const tree = useMemo(() => (graph.data ? buildTree(graph.data) : null), [graph.data]);
  const types = useMemo(() => new Set(graph.data?.nodes.map((node) => node.properties.memory_type) ?? []), [graph.data]);

  const clearAll = async () => {
    const answer = await confirm({ title: "Clear all memories?", message: "Every record and composite of this account will be deleted. Skills and sessions stay." });
    if (!answer.ok) return;
    try {
      await clearGraph();
    } catch (reason) {
      setClearError(`The memories were not cleared. ${errorText(reason)}`);
    }
    graph.reload();
    onChanged();
  };

  return (
    <div className="tree">
      <div className="toolbar">
        <input type="search" placeholder="Search memories…" aria-label="Search memories" data-testid="tree-search" value={query} onChange={(e) => setQuery(e.target.value)} />
        <label className="checkbox">
          <input type="checkbox" data-testid="tree-show-expired" checked={showExpired} onChange={(e) => setShowExpired(e.target.checked)} /> show expired
        </label>
        <button type="button" className="danger small" data-testid="tree-clear" onClick={() => void clearAll()}>
          Clear all
        </button>
      </div>
      {graph.error && (
        <div className="error" role="alert">
          The memory tree could not be loaded. {graph.error}{" "}
          <button type="button" className="small" onClick={graph.reload}>
            Try again
          </button>
        </div>
      )}
      {searchError && (
        <div className="error" role="alert">
          Search failed. {searchError}
        </div>
      )}
      {clearError && (
        <div className="error" role="alert">
          {clearError}
        </div>
      )}
      {graph.data && (
        <p className="muted">
          {graph.data.stats.record_count} records · {graph.data.stats.composite_count} composites
          {matches ? ` · ${matches.size} matches` : ""}
          {graph.data.truncated ? " · truncated" : ""}
        </p>
      )}
      <Legend types={types} />
      {tree && tree.roots.length === 0 && <p className="muted">No memories yet. They appear a few seconds after you send a message, once it is consolidated.</p>}
      {tree && (
        <ul className="tree-list">
          {tree.roots.map((id) => (
            <TreeNode key={id} id={id} tree={tree} depth={0} matches={matches} expandAll={matches !== null} onOpen={onOpen} />
          ))}
        </ul>
      )}
    </div>
  );
}
