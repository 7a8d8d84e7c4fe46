import { useEffect, useState, type FormEvent } from "react";
import { anonymousAllowed, login, register } from "../api/endpoints";
import type { TokenPublic } from "../api/models";
import { errorText } from "../format";

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

  const tabButton = (name: Tab, label: string) => (
    <button
      type="button"
      role="tab"
      aria-selected={tab === name}
      className={tab === name ? "tab active" : "tab"}
      data-testid={`tab-${name}`}
      onClick={() => {
        setTab(name);
        setError(null);
      }}
    >
      {label}
    </button>
  );

  return (
    <div className="login-page">
      <form className="login-card" onSubmit={submit}>
        <h1>
          <span className="logo" aria-hidden="true" /> LycheeMem
        </h1>
        <p className="muted">Long-term memory for LLM agents — demo</p>
        {notice && (
          <div className="notice" data-testid="login-notice">
            {notice}
          </div>
        )}
        <div className="tabs" role="tablist">
          {tabButton("login", "Sign in")}
          {tabButton("register", "Register")}
        </div>
        <label>
          Username
          <input data-testid="login-username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required />
        </label>
        <label>
          Password
          <input
            data-testid="login-password"
            type="password"
            autoComplete={tab === "login" ? "current-password" : "new-password"}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
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
    </div>
  );
}
