import { useEffect, useState, type FormEvent } from "react";
import { anonymousAllowed, login, register } from "../api/endpoints";
import type { TokenPublic } from "../api/models";
import { errorText } from "../format";
import { Tabs } from "./ui/Tabs";

const USERNAME_CHARS = /^[A-Za-z0-9_.@-]+$/;
const LOGIN_TABS = [
  ["login", "Sign in"],
  ["register", "Register"],
] as const;

/** Problems the server would refuse, said before sending (the server checks again). */
export function formProblem(tab: "login" | "register", username: string, password: string): string | null {
  if (!username.trim()) return "Enter a username.";
  if (!password) return "Enter a password.";
  if (tab === "login") return null;
  if (username.length < 2) return "Username must be at least 2 characters long.";
  if (!USERNAME_CHARS.test(username)) return "Username may contain only letters, digits and the characters . _ @ -";
  if (password.length < 8) return "Password must be at least 8 characters long.";
  return null;
}

interface LoginProps {
  notice: string | null;
  onSignedIn: (token: TokenPublic) => void;
  onAnonymous: () => void;
}

type Tab = "login" | "register";

/** Sign in, create an account, or continue in the anonymous namespace when the server allows it. */
export function Login({ notice, onSignedIn, onAnonymous }: LoginProps) {
  const [tab, setTab] = useState<Tab>("login");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [anonymous, setAnonymous] = useState(false);

  useEffect(() => {
    void anonymousAllowed().then(setAnonymous);
  }, []);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const problem = formProblem(tab, username, password);
    if (problem) return setError(problem);
    setBusy(true);
    setError(null);
    try {
      const token =
        tab === "login"
          ? await login({ username, password })
          : await register({ username, password, display_name: displayName.trim() || null });
      onSignedIn(token);
    } catch (reason) {
      setError(errorText(reason));
    } finally {
      setBusy(false);
    }
  };

  const select = (name: Tab) => {
    setTab(name);
    setError(null);
  };

  return (
    <main className="login-page">
      <form className="login-card" onSubmit={submit} noValidate id="login-form" role="tabpanel" aria-labelledby={`login-tab-${tab}`}>
        <h1>
          <span className="logo" aria-hidden="true" /> LycheeMem
        </h1>
        <p className="muted">Long-term memory for LLM agents — demo</p>
        {notice && (
          <div className="notice" data-testid="login-notice">
            {notice}
          </div>
        )}
        <Tabs idPrefix="login" label="Sign in or register" tabs={LOGIN_TABS} selected={tab} onSelect={select} testPrefix="tab-" sharedPanelId="login-form" />
        <label>
          Username
          <input data-testid="login-username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} aria-required="true" />
        </label>
        <label>
          Password
          <input
            data-testid="login-password"
            type="password"
            autoComplete={tab === "login" ? "current-password" : "new-password"}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            aria-required="true"
            aria-describedby={tab === "register" ? "password-hint" : undefined}
          />
        </label>
        {tab === "register" && (
          <p className="muted small" id="password-hint">
            At least 8 characters.
          </p>
        )}
        {tab === "register" && (
          <label>
            Display name <span className="muted">(optional)</span>
            <input data-testid="login-display-name" value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
          </label>
        )}
        {error && (
          <div className="error" role="alert" data-testid="login-error">
            {error}
          </div>
        )}
        <button type="submit" className="primary" data-testid="login-submit" disabled={busy}>
          {tab === "login" ? "Sign in" : "Create account"}
        </button>
        {anonymous && (
          <button type="button" className="link" data-testid="continue-anonymous" onClick={onAnonymous}>
            Continue without account
          </button>
        )}
      </form>
    </main>
  );
}
