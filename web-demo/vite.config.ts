import { defineConfig, loadEnv } from "vite";
import react from "@vitejs/plugin-react";

// Routes of the LycheeMem API that the dev server forwards to a running backend.
const API_PREFIXES = ["/auth", "/chat", "/sessions", "/memory", "/pipeline", "/health"];

export default defineConfig(({ mode }) => {
  const env = loadEnv(mode, process.cwd(), "");
  const target = env.VITE_API_TARGET || "http://127.0.0.1:8000";
  const proxy = Object.fromEntries(API_PREFIXES.map((prefix) => [prefix, { target }]));
  return {
    base: "/demo/",
    plugins: [react()],
    server: { port: 5173, proxy },
    preview: { port: 4173, proxy },
    build: { outDir: "dist", sourcemap: false },
  };
});
