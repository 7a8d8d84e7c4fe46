// Browser suite of the web demo: a system Chromium driven by playwright-core against a real,
// memory-only LycheeMem server that serves the built demo (LYCHEEMEM_TEST_BASE_URL).
// The same scenario runs at desktop (1280x800) and phone (390x844) sizes, the way a person would
// use the demo; a shorter one checks the tablet layout. Every screen is checked with axe-core
// (no serious or critical violation) and photographed into test-results/.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from "playwright-core";

const BASE_URL = process.env.LYCHEEMEM_TEST_BASE_URL?.replace(/\/$/, "");
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), "..", "test-results");
const WAIT_MS = 30_000;
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

function findChromium(): string | null {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
  return candidates.find((path): path is string => Boolean(path) && existsSync(path!)) ?? null;
}

const CHROMIUM = findChromium();
const SKIP = !BASE_URL ? "LYCHEEMEM_TEST_BASE_URL is not set" : !CHROMIUM ? "no Chromium found (set CHROMIUM_PATH)" : false;

const byTestId = (id: string) => `[data-testid="${id}"]`;

interface Size {
  name: "desktop" | "phone" | "tablet";
  width: number;
  height: number;
}
const DESKTOP: Size = { name: "desktop", width: 1280, height: 800 };
const PHONE: Size = { name: "phone", width: 390, height: 844 };
const TABLET: Size = { name: "tablet", width: 820, height: 1180 };

let browser: Browser;

before(async () => {
  if (SKIP) return;
  mkdirSync(RESULTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM!,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
});

after(async () => {
  await browser?.close();
});

/** Everything a scenario needs for one browser window of one size. */
class Demo {
  page!: Page;
  context!: BrowserContext;
  readonly consoleErrors: string[] = [];
  readonly axeScreens: string[] = [];
  /** Console errors that a test provoked on purpose (a refused request) are expected. */
  expectedErrors: RegExp | null = null;

  constructor(readonly size: Size) {}

  get small(): boolean {
    return this.size.name !== "desktop";
  }

  async open(): Promise<void> {
    this.context = await browser.newContext({ viewport: { width: this.size.width, height: this.size.height }, isMobile: this.size.name === "phone", hasTouch: this.size.name === "phone" });
    this.page = await this.context.newPage();
    this.page.setDefaultTimeout(WAIT_MS);
    this.page.on("console", (message: ConsoleMessage) => {
      if (message.type() !== "error") return;
      const text = `${message.text()} @ ${message.location().url}`;
      if (!this.expectedErrors?.test(text)) this.consoleErrors.push(text);
    });
    this.page.on("pageerror", (error) => this.consoleErrors.push(`page error: ${error.message}`));
  }

  shot(name: string): Promise<Buffer> {
    return this.page.screenshot({ path: join(RESULTS, `${this.size.name}-${name}.png`) });
  }

  /** Run axe-core on the page as it is; fail on any serious or critical violation. */
  async axe(screen: string): Promise<void> {
    const loaded = await this.page.evaluate(() => "axe" in window);
    if (!loaded) await this.page.addScriptTag({ content: AXE_SOURCE });
    const violations = await this.page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run: (context: Document, options: object) => Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
      const result = await axe.run(document, { resultTypes: ["violations"] });
      return result.violations.map((item) => ({ id: item.id, impact: item.impact, help: item.help, targets: item.nodes.slice(0, 5).map((node) => node.target.join(" ")) }));
    });
    const serious = violations.filter((item) => item.impact === "serious" || item.impact === "critical");
    assert.deepEqual(serious, [], `axe on ${this.size.name} ${screen}`);
    this.axeScreens.push(screen);
  }

  /** The page never scrolls sideways: nothing is wider than the window. */
  async assertNoHorizontalOverflow(where: string): Promise<void> {
    const widths = await this.page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, view: window.innerWidth }));
    assert.ok(widths.scroll <= widths.view, `${where}: page is ${widths.scroll}px wide in a ${widths.view}px window`);
  }

  /** The element lies inside the window horizontally (not cut off at the right edge). */
  async assertInsideWindow(selector: string): Promise<void> {
    const box = await this.page.locator(selector).first().boundingBox();
    assert.ok(box, `${selector} is rendered`);
    assert.ok(box.x >= 0 && box.x + box.width <= this.size.width + 0.5, `${selector} spans ${box.x}..${box.x + box.width} in a ${this.size.width}px window`);
  }

  async currentSessionId(): Promise<string> {
    if (this.size.name === "phone") await this.openSessions();
    const id = (await this.page.locator(`${byTestId("session-item")}[aria-current="true"]`).getAttribute("data-session-id")) ?? "";
    if (this.size.name === "phone") await this.closeSheet("sessions-sheet");
    return id;
  }

  async openSessions(): Promise<void> {
    if (this.size.name !== "phone") return;
    await this.page.click(byTestId("open-sessions"));
    await this.page.waitForSelector(`${byTestId("sessions-sheet")}[open]`);
  }

  async closeSheet(testId: string): Promise<void> {
    if ((await this.page.locator(`${byTestId(testId)}[open]`).count()) === 0) return;
    await this.page.click(byTestId(`${testId}-close`));
    await this.page.waitForSelector(byTestId(testId), { state: "detached" });
  }

  /** Show a side panel tab: inline on desktop, in the Memory sheet on tablet and phone. */
  async openTab(name: string): Promise<void> {
    if (this.small && (await this.page.locator(`${byTestId("panels-sheet")}[open]`).count()) === 0) {
      await this.page.click(byTestId("open-panels"));
      await this.page.waitForSelector(`${byTestId("panels-sheet")}[open]`);
    }
    await this.page.click(byTestId(`panel-tab-${name}`));
    await this.page.waitForSelector(`${byTestId(`panel-tab-${name}`)}[aria-selected="true"]`);
  }

  async closePanels(): Promise<void> {
    if (this.small) await this.closeSheet("panels-sheet");
  }

  async newSession(): Promise<void> {
    await this.openSessions();
    await this.page.click(byTestId("session-new"));
    if (this.size.name === "phone") await this.page.waitForSelector(byTestId("sessions-sheet"), { state: "detached" });
  }

  /** Send a message in the current session and wait for the finished answer. */
  async send(message: string): Promise<void> {
    await this.page.fill(byTestId("chat-input"), message);
    const asked = await this.page.locator(byTestId("message-user")).count();
    await this.page.click(byTestId("chat-send"));
    await this.page.waitForSelector(`${byTestId("step-reason")}[data-status="done"]`);
    // Done when this message is followed by a finished answer.
    await this.page.waitForFunction((count) => {
      const bubbles = Array.from(document.querySelectorAll<HTMLElement>('[data-testid="message-user"], [data-testid="message-assistant"]'));
      const last = bubbles[bubbles.length - 1];
      const users = bubbles.filter((bubble) => bubble.dataset.testid === "message-user").length;
      return users > count && last?.dataset.testid === "message-assistant" && last.dataset.streaming === "false";
    }, asked);
  }

  async waitForTurnConsolidated(): Promise<string> {
    const status = this.page.locator(byTestId("turn-status")).last();
    await this.page.waitForFunction(() => {
      const all = document.querySelectorAll('[data-testid="turn-status"]');
      return /consolidation done|nothing new/.test(all[all.length - 1]?.textContent ?? "");
    }, null, { timeout: 60_000 });
    return (await status.textContent()) ?? "";
  }

  async login(username: string, password: string): Promise<void> {
    await this.page.click(byTestId("tab-login"));
    await this.page.fill(byTestId("login-username"), username);
    await this.page.fill(byTestId("login-password"), password);
    await this.page.click(byTestId("login-submit"));
    await this.page.waitForSelector(byTestId("chat-input"));
  }

  async logout(): Promise<void> {
    await this.page.click(byTestId("user-menu"));
    await this.page.click(byTestId("logout"));
    await this.page.waitForSelector(byTestId("login-username"));
  }
}

const PASSWORD = "window-seat-42";

function scenario(size: Size): void {
  describe(`web demo at ${size.name} size (${size.width}x${size.height})`, { skip: SKIP }, () => {
    const demo = new Demo(size);
    const username = `e2e_${size.name}_${Date.now().toString(36)}`;
    let firstSessionId = "";
    let firstTitle = "";

    before(async () => {
      await demo.open();
    });
    after(async () => {
      await demo.context?.close();
    });

    test("the sign-in screen is accessible and explains bad input in plain words", async () => {
      const { page } = demo;
      await page.goto(`${BASE_URL}/demo/`);
      await page.waitForSelector(byTestId("login-username"));
      assert.equal(await page.locator("main").count(), 1, "one main landmark");
      assert.equal(await page.locator("h1").count(), 1, "one h1");
      await demo.axe("sign-in");
      await page.click(byTestId("tab-register"));
      // Arrow keys move between the Sign in / Register tabs.
      await page.focus(byTestId("tab-register"));
      await page.keyboard.press("ArrowLeft");
      assert.equal(await page.getAttribute(byTestId("tab-login"), "aria-selected"), "true");
      await page.keyboard.press("ArrowRight");
      assert.equal(await page.getAttribute(byTestId("tab-register"), "aria-selected"), "true");

      await page.fill(byTestId("login-username"), username);
      await page.fill(byTestId("login-password"), "short");
      await page.click(byTestId("login-submit"));
      assert.equal(await page.textContent(byTestId("login-error")), "Password must be at least 8 characters long.");
      // A problem only the server knows about is reworded too (no validator text).
      demo.expectedErrors = /status of 422/;
      await page.fill(byTestId("login-username"), "u".repeat(65));
      await page.fill(byTestId("login-password"), PASSWORD);
      await page.click(byTestId("login-submit"));
      await page.locator(byTestId("login-error"), { hasText: "at most 64" }).waitFor();
      const text = (await page.textContent(byTestId("login-error"))) ?? "";
      assert.equal(text, "Username can be at most 64 characters long.");
      assert.doesNotMatch(text, /String should|body|http_error/);
      demo.expectedErrors = null;
      await demo.assertNoHorizontalOverflow("sign-in");
      await demo.shot("01-sign-in-error");
    });

    test("registering opens a workspace that fits the window and explains memory-only mode once", async () => {
      const { page } = demo;
      await page.fill(byTestId("login-username"), username);
      await page.fill(byTestId("login-password"), PASSWORD);
      await page.fill(byTestId("login-display-name"), "Alice");
      await page.click(byTestId("login-submit"));
      await page.waitForSelector(byTestId("chat-input"));
      const token = await page.evaluate(() => localStorage.getItem("lychee_token"));
      assert.ok(token && token.split(".").length === 3, "a JWT is stored in localStorage");
      await page.locator(byTestId("mode-badge"), { hasText: "memory-only" }).waitFor();
      assert.equal(await page.getAttribute(".app", "data-layout"), size.name);
      assert.equal(await page.locator("main").count(), 1, "one main landmark");
      assert.equal(await page.locator("h1").count(), 1, "one h1");
      assert.equal(await page.locator('nav[aria-label="Sessions"]').count(), size.name === "phone" ? 0 : 1, "sessions inline except on a phone");
      await demo.assertNoHorizontalOverflow("workspace");
      for (const selector of [byTestId("user-menu"), byTestId("mode-badge"), byTestId("chat-send"), byTestId("chat-input")]) {
        await demo.assertInsideWindow(selector);
      }
      if (size.name === "phone") {
        await demo.assertInsideWindow(byTestId("open-sessions"));
        await demo.assertInsideWindow(byTestId("open-panels"));
      }
      const notice = (await page.textContent(byTestId("mode-notice"))) ?? "";
      assert.match(notice, /No language model is configured/);
      assert.match(notice, /LYCHEEMEM_LLM_MODEL/);
      await demo.axe("workspace with the memory-only notice");
      await demo.shot("02-workspace");
    });

    test("a statement is stored, its consolidation is followed to the records it made", async () => {
      const { page } = demo;
      await demo.newSession();
      firstSessionId = await demo.currentSessionId();
      assert.ok(firstSessionId, "the new session is selected");
      // Record what the pipeline panel and the live region show while the turn is handled.
      await page.evaluate(() => {
        const seen: { status: string | null; counts: boolean; live: string; streaming: boolean }[] = [];
        (window as unknown as { __seen: typeof seen }).__seen = seen;
        new MutationObserver(() => {
          seen.push({
            status: document.querySelector('[data-testid="consolidation-status"]')?.getAttribute("data-status") ?? null,
            counts: document.querySelector('[data-testid="consolidation-counts"]') !== null,
            live: document.querySelector('[data-testid="live-region"]')?.textContent ?? "",
            streaming: document.querySelector('[data-testid="message-assistant"][data-streaming="true"]') !== null,
          });
        }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
      });
      if (!demo.small) await demo.openTab("pipeline");
      await demo.send("I prefer window seats on long flights.");
      const answer = page.locator(byTestId("message-assistant")).last();
      assert.match((await answer.textContent()) ?? "", /No stored memory matches/);
      assert.match((await page.textContent(byTestId("memory-only-label"))) ?? "", /memory-only/);
      assert.match((await page.textContent(byTestId("live-region"))) ?? "", /Answer ready/);
      const firstStatus = (await page.textContent(byTestId("turn-status"))) ?? "";
      assert.match(firstStatus, /^Turn stored · /);
      const finalStatus = await demo.waitForTurnConsolidated();
      assert.match(finalStatus, /consolidation done: [1-9]\d* new record/);
      const seen = await page.evaluate(() => (window as unknown as { __seen: { status: string | null; counts: boolean; live: string; streaming: boolean }[] }).__seen);
      assert.ok(seen.some((entry) => entry.streaming), "the assistant bubble was shown while streaming");
      assert.ok(seen.some((entry) => entry.live === "Sending…"), "the live region announced the send");
      assert.ok(!seen.some((entry) => entry.counts && entry.status !== "done"), "no record counts are shown before consolidation is done");
      for (const step of ["wm_manager", "search", "synthesize", "reason"]) {
        assert.equal(await page.getAttribute(byTestId(`step-${step}`), "data-status"), "done", step);
      }
      await demo.shot("03-first-turn");

      await demo.openTab("pipeline");
      await page.waitForSelector(`${byTestId("consolidation-status")}[data-status="done"]`);
      assert.match((await page.textContent(byTestId("consolidation-counts"))) ?? "", /[1-9]\d* records added/);
      const queries = await page.locator(`${byTestId("plan-queries")} li`).allTextContents();
      assert.equal(new Set(queries.map((query) => query.toLowerCase())).size, queries.length, `plan queries are listed once: ${queries}`);
      // The "consolidating…" pill goes away once the job has finished.
      await page.waitForSelector(byTestId("busy-pill"), { state: "detached", timeout: 15_000 });
      await demo.axe("pipeline panel");
      await demo.shot("04-pipeline");

      await demo.openTab("wm");
      const bar = page.locator(byTestId("wm-token-bar"));
      await bar.waitFor();
      assert.ok(Number(await bar.getAttribute("data-used")) > 0, "the token bar shows usage");
      const assistantTurn = page.locator(`${byTestId("wm-turn")}[data-turn-index="1"]`);
      await assistantTurn.waitFor();
      const stored = (await assistantTurn.textContent()) ?? "";
      assert.doesNotMatch(stored, /\[memory-only mode/, "working memory shows the stored answer without the label");
      assert.match(stored, /No stored memory matches/);
      await demo.axe("working memory panel");
      await demo.closePanels();
      if (demo.size.name === "phone") await demo.openSessions();
      firstTitle = ((await page.locator(`${byTestId("session-item")}[data-session-id="${firstSessionId}"] .session-title`).textContent()) ?? "").trim();
      if (demo.size.name === "phone") await demo.closeSheet("sessions-sheet");
      assert.match(firstTitle, /window seats/);
    });

    test("the mode badge explains memory-only mode in a dialog; the notice is shown once", async () => {
      const { page } = demo;
      await page.click(byTestId("mode-notice-dismiss"));
      await page.waitForSelector(byTestId("mode-notice"), { state: "detached" });
      await page.click(byTestId("mode-badge"));
      const dialog = page.locator(byTestId("mode-dialog"));
      await dialog.waitFor();
      assert.match((await dialog.textContent()) ?? "", /LYCHEEMEM_LLM_MODEL/);
      await demo.axe("memory-only dialog");
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "detached" });
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("data-testid")), "mode-badge", "focus returns to the badge");
    });

    test("a question in a new session is answered with readable citation chips; ids stay in the inspector", async () => {
      const { page } = demo;
      await demo.newSession();
      await demo.send("Where do I like to sit on flights?");
      const answer = page.locator(byTestId("message-assistant")).last();
      const chip = answer.locator(`${byTestId("citation")}[data-index="1"]`);
      await chip.waitFor();
      const label = (await chip.textContent()) ?? "";
      assert.ok(label.includes(firstTitle.slice(0, 20)), `the chip names the source session: ${label}`);
      assert.match(label, /\b20\d\d\b/, `the chip carries a date: ${label}`);
      const text = (await answer.textContent()) ?? "";
      assert.ok(!text.includes(firstSessionId), "no session id in the answer");
      assert.doesNotMatch(text, /\bturn \d/, "no turn numbers in the answer");
      assert.match(label, /^Source 1: /, "the chip's name says it is a source");
      await demo.shot("05-cited-answer");
      // The README's picture: the cited answer with its consolidation settled (and, on a
      // desktop, the pipeline trace beside it).
      await demo.waitForTurnConsolidated();
      if (size.name === "desktop") {
        await demo.openTab("pipeline");
        await page.waitForSelector(`${byTestId("consolidation-status")}:not([data-status="queued"])`);
      }
      await demo.shot("readme");

      await chip.click();
      const inspector = page.locator(byTestId("inspector"));
      await inspector.locator(byTestId("inspector-id")).waitFor();
      assert.match((await inspector.textContent()) ?? "", /window seats/);
      await demo.assertInsideWindow(byTestId("inspector-id"));
      const idBox = await page.locator(byTestId("inspector-id")).boundingBox();
      const inspectorBox = await inspector.boundingBox();
      assert.ok(idBox && inspectorBox && idBox.x + idBox.width <= inspectorBox.x + inspectorBox.width + 0.5, "the id wraps inside the inspector");
      if (size.name === "desktop") {
        const chatBox = await page.locator("main").boundingBox();
        assert.ok(chatBox && inspectorBox && inspectorBox.x >= chatBox.x + chatBox.width - 0.5, "the inspector does not cover the chat");
      }
      const source = inspector.locator(byTestId("inspector-source")).first();
      assert.equal(await source.getAttribute("data-session-id"), firstSessionId);
      assert.equal(await source.getAttribute("data-turn-ids"), "0");
      assert.ok(((await source.textContent()) ?? "").includes(firstSessionId), "the inspector shows the session id");
      assert.match((await source.textContent()) ?? "", new RegExp(firstTitle.slice(0, 15)));
      await demo.axe("inspector");
      await demo.shot("06-inspector");

      await source.locator(byTestId("open-in-session")).click();
      await inspector.waitFor({ state: "detached" });
      const turn = page.locator(`${byTestId("message-user")}[data-turn-index="0"][data-highlighted="true"]`);
      await turn.waitFor();
      assert.ok(await turn.isVisible(), "the highlighted turn is visible");
      // Scrolled into view: the turn lies inside the window.
      await page.waitForFunction(() => {
        const box = document.querySelector('[data-testid="message-user"][data-highlighted="true"]')?.getBoundingClientRect();
        return Boolean(box && box.top >= 0 && box.bottom <= window.innerHeight);
      });
      assert.equal(await demo.currentSessionId(), firstSessionId);
      await demo.shot("07-open-in-session");
    });

    test("history keeps citations, feedback and the last trace across reload and re-login", async () => {
      const { page } = demo;
      await demo.openSessions();
      await page.locator(byTestId("session-item"), { hasText: "Where do I like" }).locator(".session-main").click();
      const answer = page.locator(byTestId("message-assistant")).last();
      await answer.locator(byTestId("citation")).first().waitFor();
      await answer.locator(byTestId("feedback-up")).click();
      await page.waitForSelector(`${byTestId("feedback-up")}[aria-pressed="true"]`);
      const before = (await answer.locator(byTestId("citation")).first().textContent()) ?? "";

      const check = async (when: string) => {
        const reloaded = page.locator(byTestId("message-assistant")).last();
        const chip = reloaded.locator(byTestId("citation")).first();
        await chip.waitFor();
        assert.equal(await chip.textContent(), before, `${when}: the chip keeps its label`);
        assert.equal(await reloaded.locator(byTestId("feedback-up")).getAttribute("aria-pressed"), "true", `${when}: feedback state`);
        assert.ok(await reloaded.locator(byTestId("memory-only-label")).isVisible(), `${when}: memory-only badge`);
        assert.doesNotMatch((await reloaded.textContent()) ?? "", /\[memory-only mode/);
        await demo.openTab("pipeline");
        await page.waitForSelector(`${byTestId("pipeline-panel")}[data-source="history"]`);
        assert.match((await page.textContent(byTestId("pipeline-panel"))) ?? "", /Hits \(1\)/, `${when}: the last trace`);
        await demo.closePanels();
      };
      await page.reload();
      await check("after reload");
      await demo.shot("08-history-after-reload");
      await demo.logout();
      await demo.axe("sign-in after log-out");
      await demo.login(username, PASSWORD);
      await check("after signing in again");
    });

    test("tabs, icon buttons and session actions work from the keyboard and are named", async () => {
      const { page } = demo;
      await demo.openTab("pipeline");
      const pipelineTab = page.locator(byTestId("panel-tab-pipeline"));
      await pipelineTab.focus();
      await page.keyboard.press("ArrowRight");
      const wmTab = page.locator(byTestId("panel-tab-wm"));
      assert.equal(await wmTab.getAttribute("aria-selected"), "true");
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("data-testid")), "panel-tab-wm");
      const controls = (await wmTab.getAttribute("aria-controls")) ?? "";
      assert.equal(await page.locator(`#${controls}`).getAttribute("role"), "tabpanel");
      assert.equal(await page.locator(`#${controls}`).getAttribute("aria-labelledby"), await wmTab.getAttribute("id"));
      await page.keyboard.press("End");
      assert.equal(await page.getAttribute(byTestId("panel-tab-skills"), "aria-selected"), "true");
      await page.keyboard.press("ArrowRight");
      assert.equal(await pipelineTab.getAttribute("aria-selected"), "true", "arrow keys wrap around");
      assert.equal(await pipelineTab.getAttribute("tabindex"), "0");
      assert.equal(await wmTab.getAttribute("tabindex"), "-1");
      await demo.closePanels();

      await demo.openSessions();
      const other = page.locator(`${byTestId("session-item")}[data-active="false"]`).first();
      for (const action of ["session-rename", "session-delete"]) {
        const button = other.locator(byTestId(action));
        assert.ok(await button.isVisible(), `${action} is visible on an unselected session`);
        assert.match((await button.getAttribute("aria-label")) ?? "", /^(Rename|Delete) “/);
      }
      await demo.axe(size.name === "phone" ? "sessions sheet" : "sessions list");
      await demo.shot("09-sessions");
      // Rename from the keyboard; an empty title is refused with a sentence.
      await other.locator(byTestId("session-rename")).click();
      const input = page.locator(byTestId("session-rename-input"));
      await input.fill("  ");
      await input.press("Enter");
      await page.locator(".session-error", { hasText: "cannot be empty" }).waitFor();
      await input.fill("Backups");
      await input.press("Enter");
      await page.locator(byTestId("session-item"), { hasText: "Backups" }).waitFor();
      if (size.name === "phone") await demo.closeSheet("sessions-sheet");
      // Every icon-only button has a name (axe's button-name rule would also flag them).
      const unnamed = await page.evaluate(() =>
        Array.from(document.querySelectorAll("button"))
          .filter((button) => !(button.getAttribute("aria-label") || button.textContent?.trim()))
          .map((button) => button.outerHTML.slice(0, 80)),
      );
      assert.deepEqual(unnamed, []);
    });

    test("the confirm dialog traps focus, keeps the page inert, closes on Escape and defaults to Cancel", async () => {
      const { page } = demo;
      await demo.openSessions();
      const target = page.locator(byTestId("session-item"), { hasText: "Backups" });
      await target.locator(byTestId("session-delete")).click();
      const dialog = page.locator(byTestId("confirm-dialog"));
      await dialog.waitFor();
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("data-testid")), "confirm-cancel", "Cancel has the focus");
      for (let press = 0; press < 6; press += 1) {
        await page.keyboard.press("Tab");
        assert.ok(await page.evaluate(() => Boolean(document.activeElement?.closest('[data-testid="confirm-dialog"]'))), `focus stays in the dialog after ${press + 1} Tab`);
      }
      await page.keyboard.press("Shift+Tab");
      assert.ok(await page.evaluate(() => Boolean(document.activeElement?.closest('[data-testid="confirm-dialog"]'))));
      await demo.axe("confirm dialog");
      await demo.shot("10-confirm");
      // No space or Enter: those would press the focused button.
      await page.keyboard.type("typedwhiletheconfirmationwasopen");
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "detached" });
      await target.waitFor();
      if (size.name === "phone") await demo.closeSheet("sessions-sheet");
      assert.equal(await page.inputValue(byTestId("chat-input")), "", "nothing was typed into the chat behind the dialog");

      // A click on the page behind lands on the backdrop: it cancels, and reaches nothing else.
      await demo.openSessions();
      await target.locator(byTestId("session-delete")).click();
      await dialog.waitFor();
      const composer = await page.locator(byTestId("chat-send")).boundingBox();
      assert.ok(composer);
      await page.mouse.click(composer.x + composer.width / 2, composer.y + composer.height / 2);
      await dialog.waitFor({ state: "detached" });
      await target.waitFor();
      assert.notEqual(await page.evaluate(() => document.activeElement?.getAttribute("data-testid")), "chat-input");
      if (size.name === "phone") await demo.closeSheet("sessions-sheet");

      await demo.openSessions();
      await target.locator(byTestId("session-delete")).click();
      await page.click(byTestId("confirm-ok"));
      await target.waitFor({ state: "detached" });
      if (size.name === "phone") await demo.closeSheet("sessions-sheet");
    });

    test("the account menu works with the keyboard and closes on Escape and outside clicks", async () => {
      const { page } = demo;
      await page.click(byTestId("user-menu"));
      await page.waitForSelector(byTestId("account-menu"));
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("data-testid")), "export", "the first item has the focus");
      await page.keyboard.press("ArrowDown");
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("data-testid")), "logout");
      await demo.assertInsideWindow(byTestId("account-menu"));
      await demo.axe("account menu");
      await demo.shot("11-account-menu");
      await page.keyboard.press("Escape");
      await page.waitForSelector(byTestId("account-menu"), { state: "detached" });
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("data-testid")), "user-menu", "focus returns to the button");
      await page.click(byTestId("user-menu"));
      await page.waitForSelector(byTestId("account-menu"));
      await page.mouse.click(size.width / 2, size.height / 2);
      await page.waitForSelector(byTestId("account-menu"), { state: "detached" });
    });

    test("a failed answer shows a human message with a retry and leaves no empty bubble", async () => {
      const { page } = demo;
      await demo.newSession();
      demo.expectedErrors = /Failed to load resource|ERR_FAILED|status of 500/;
      await page.route("**/chat", (route) => route.abort("failed"));
      await page.fill(byTestId("chat-input"), "Which database do I back up?");
      await page.click(byTestId("chat-send"));
      const banner = page.locator(byTestId("chat-error"));
      await banner.waitFor();
      const text = (await banner.textContent()) ?? "";
      assert.match(text, /Can't reach the LycheeMem server/);
      assert.doesNotMatch(text, /Failed to fetch|network_error/);
      assert.equal(await page.locator(byTestId("message-assistant")).count(), 0, "no empty assistant bubble");
      await demo.axe("chat error");
      await demo.shot("12-error");

      await page.unroute("**/chat");
      await page.route("**/chat", (route) => route.fulfill({ status: 500, contentType: "application/json", body: JSON.stringify({ detail: "boom", code: "internal_error" }) }));
      await page.click(byTestId("chat-retry"));
      await page.locator(byTestId("chat-error"), { hasText: "HTTP 500" }).waitFor();
      assert.doesNotMatch((await banner.textContent()) ?? "", /boom|http_error|internal_error/);
      assert.equal(await page.locator(byTestId("message-user")).count(), 1, "the retried message is not shown twice");

      await page.unroute("**/chat");
      await page.click(byTestId("chat-retry"));
      await banner.waitFor({ state: "detached" });
      await page.waitForSelector(`${byTestId("message-assistant")}[data-streaming="false"]`);
      assert.match((await page.textContent(byTestId("message-assistant"))) ?? "", /\S/);
      demo.expectedErrors = null;
    });

    test("the skills tab tells how skills are made in memory-only mode, and a numbered procedure becomes one", async () => {
      const { page } = demo;
      await demo.openTab("skills");
      const empty = (await page.locator(byTestId("skills-empty")).textContent()) ?? "";
      assert.match(empty, /at least three steps/);
      assert.match(empty, /procedure/);
      await demo.axe("skills tab, empty");
      await demo.openTab("tree");
      await page.locator(`${byTestId("tree-node")}[data-type="preference"][data-kind="record"]`).first().waitFor();
      await demo.axe("memory tree tab");
      await demo.shot("13-memory-tree");
      await demo.closePanels();

      await demo.newSession();
      await demo.send("How I deploy the blog:\n1. Run npm run build\n2. Upload the dist folder with aws s3 sync\n3. Invalidate the CloudFront cache");
      assert.match(await demo.waitForTurnConsolidated(), /1 skill/);
      await demo.openTab("skills");
      const skill = page.locator(byTestId("skill-item"), { hasText: "deploy the blog" }).first();
      await skill.waitFor();
      await skill.locator("summary").click();
      assert.match((await skill.textContent()) ?? "", /Invalidate the CloudFront cache/);
      await demo.axe("skills tab");
      await demo.shot("14-skills");
      await skill.locator(byTestId("skill-delete")).click();
      await page.click(byTestId("confirm-ok"));
      await skill.waitFor({ state: "detached" });
      await demo.closePanels();
    });

    test("nothing unexpected was logged to the console, and axe checked every screen", () => {
      assert.deepEqual(demo.consoleErrors, []);
      assert.ok(demo.axeScreens.length >= 14, `axe ran on ${demo.axeScreens.length} screens`);
    });

    test("a corrupted token in localStorage returns to the login screen", async () => {
      const { page } = demo;
      await page.evaluate(() => localStorage.setItem("lychee_token", "corrupted.token.value"));
      await page.reload();
      await page.waitForSelector(byTestId("login-username"));
      assert.match((await page.textContent(byTestId("login-notice"))) ?? "", /session has expired/i);
      assert.equal(await page.evaluate(() => localStorage.getItem("lychee_token")), null);
      const unexpected = demo.consoleErrors.filter((text) => !/status of 401/.test(text));
      assert.deepEqual(unexpected, [], "only the rejected token's 401 is logged");
    });
  });
}

scenario(DESKTOP);
scenario(PHONE);

describe(`web demo at tablet size (${TABLET.width}x${TABLET.height})`, { skip: SKIP }, () => {
  const demo = new Demo(TABLET);
  before(async () => {
    await demo.open();
  });
  after(async () => {
    await demo.context?.close();
  });

  test("sessions stay inline, the panels open in a side sheet, nothing overflows", async () => {
    const { page } = demo;
    await page.goto(`${BASE_URL}/demo/`);
    await page.click(byTestId("tab-register"));
    await page.fill(byTestId("login-username"), `e2e_tablet_${Date.now().toString(36)}`);
    await page.fill(byTestId("login-password"), PASSWORD);
    await page.click(byTestId("login-submit"));
    await page.waitForSelector(byTestId("chat-input"));
    assert.equal(await page.getAttribute(".app", "data-layout"), "tablet");
    assert.equal(await page.locator('nav[aria-label="Sessions"]').count(), 1);
    await demo.assertNoHorizontalOverflow("tablet workspace");
    await demo.assertInsideWindow(byTestId("user-menu"));
    await demo.axe("tablet workspace");
    await demo.openTab("skills");
    const sheet = await page.locator(byTestId("panels-sheet")).boundingBox();
    assert.ok(sheet && sheet.x + sheet.width <= TABLET.width + 0.5 && sheet.x > 0, "the panels sheet opens from the right");
    await demo.axe("tablet panels sheet");
    await demo.shot("01-panels-sheet");
    await page.keyboard.press("Escape");
    await page.waitForSelector(byTestId("panels-sheet"), { state: "detached" });
    assert.deepEqual(demo.consoleErrors, []);
  });
});
