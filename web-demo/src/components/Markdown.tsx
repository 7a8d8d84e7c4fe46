import ReactMarkdown, { type Components } from "react-markdown";
import remarkGfm from "remark-gfm";

const CITE_PREFIX = "#cite-";

/** Only http(s) and relative URLs survive; anything else (javascript:, data:, …) becomes "". */
export function safeUrl(url: string): string {
  const trimmed = url.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === undefined) return trimmed.startsWith("//") ? "" : trimmed;
  return scheme === "http" || scheme === "https" ? trimmed : "";
}

/** Turn `[n]` markers that match a known citation into links the renderer shows as chips. */
export function linkCitations(text: string, citations: ReadonlySet<number>): string {
  if (citations.size === 0) return text;
  return text.replace(/\[(\d{1,3})\](?![(:[])/g, (whole, digits: string) =>
    citations.has(Number(digits)) ? `[\\[${digits}\\]](${CITE_PREFIX}${digits})` : whole,
  );
}

interface MarkdownProps {
  text: string;
  citations?: ReadonlySet<number>;
  onCite?: (index: number) => void;
  /** A readable label for citation `index` (source session and date). */
  citeLabel?: (index: number) => string;
}

/** Markdown rendered by React elements only (no raw HTML), with safe links and citation chips. */
export function Markdown({ text, citations, onCite, citeLabel }: MarkdownProps) {
  const components: Components = {
    a: ({ href, children }) => {
      if (href?.startsWith(CITE_PREFIX) && onCite) {
        const index = Number(href.slice(CITE_PREFIX.length));
        const label = citeLabel?.(index) ?? "";
        return (
          <button
            type="button"
            className="cite-chip"
            data-testid="citation"
            data-index={index}
            title="Open this memory in the inspector"
            onClick={() => onCite(index)}
          >
            <span className="sr-only">Source </span>
            <span className="cite-number">{index}</span>
            {label && <span className="sr-only">: </span>}
            {label && <span className="cite-label">{label}</span>}
          </button>
        );
      }
      if (!href) return <span>{children}</span>;
      const external = /^https?:/i.test(href);
      return (
        <a href={href} rel="noopener noreferrer" target={external ? "_blank" : undefined}>
          {children}
        </a>
      );
    },
    img: ({ alt, src }) => (
      <a href={src} rel="noopener noreferrer" target="_blank">
        {alt || "image"}
      </a>
    ),
  };
  return (
    <div className="markdown">
      <ReactMarkdown remarkPlugins={[remarkGfm]} components={components} urlTransform={safeUrl} skipHtml>
        {citations ? linkCitations(text, citations) : text}
      </ReactMarkdown>
    </div>
  );
}
