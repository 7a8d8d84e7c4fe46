import { useEffect, useState } from "react";

export type Layout = "phone" | "tablet" | "desktop";

const PHONE = "(max-width: 719px)";
const TABLET = "(max-width: 1179px)";

function current(): Layout {
  if (window.matchMedia(PHONE).matches) return "phone";
  return window.matchMedia(TABLET).matches ? "tablet" : "desktop";
}

/** The layout for the window width: phone < 720 px ≤ tablet < 1180 px ≤ desktop (kept in step with styles.css). */
export function useLayout(): Layout {
  const [layout, setLayout] = useState<Layout>(current);
  useEffect(() => {
    const queries = [window.matchMedia(PHONE), window.matchMedia(TABLET)];
    const update = () => setLayout(current());
    queries.forEach((query) => query.addEventListener("change", update));
    return () => queries.forEach((query) => query.removeEventListener("change", update));
  }, []);
  return layout;
}
