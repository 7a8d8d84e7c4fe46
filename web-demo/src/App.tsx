import { useCallback, useEffect, useState } from "react";
import { ApiError, setUnauthorizedHandler } from "./api/client";
import { anonymousAllowed, me } from "./api/endpoints";
import type { TokenPublic } from "./api/models";
import { clearAuth, readToken, readUser, saveAuth, type StoredUser } from "./auth";
import { ConfirmProvider } from "./hooks/useConfirm";
import { Login } from "./components/Login";
import { Workspace } from "./components/Workspace";

const EXPIRED = "Your session has expired. Please sign in again.";
const ANONYMOUS: StoredUser = { user_id: "", username: "anonymous", display_name: "Anonymous", anonymous: true };

/** Check the stored token (or anonymous choice) against the server. */
async function restoreUser(): Promise<{ user: StoredUser | null; notice: string | null }> {
  const stored = readUser();
  if (readToken()) {
    try {
      const account = await me();
      const user = { user_id: account.user_id, username: account.username, display_name: account.display_name, anonymous: false };
      saveAuth(readToken(), user);
      return { user, notice: null };
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return { user: null, notice: EXPIRED };
      return { user: stored, notice: null };
    }
  }
  if (stored?.anonymous && (await anonymousAllowed())) return { user: ANONYMOUS, notice: null };
  return { user: null, notice: null };
}

export function App() {
  const [checking, setChecking] = useState(true);
  const [user, setUser] = useState<StoredUser | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    setUnauthorizedHandler(() => {
      setUser(null);
      setNotice(EXPIRED);
    });
    void restoreUser().then((restored) => {
      setUser(restored.user);
      setNotice(restored.notice);
      setChecking(false);
    });
  }, []);

  const signedIn = useCallback((token: TokenPublic) => {
    const account = { user_id: token.user_id, username: token.username, display_name: token.display_name, anonymous: false };
    saveAuth(token.token, account);
    setNotice(null);
    setUser(account);
  }, []);
  const anonymous = useCallback(() => {
    saveAuth(null, ANONYMOUS);
    setNotice(null);
    setUser(ANONYMOUS);
  }, []);
  const logout = useCallback(() => {
    clearAuth();
    setUser(null);
  }, []);

  if (checking) return <div className="splash">Loading…</div>;
  return (
    <ConfirmProvider>
      {user ? <Workspace key={user.user_id || "anonymous"} user={user} onLogout={logout} /> : <Login notice={notice} onSignedIn={signedIn} onAnonymous={anonymous} />}
    </ConfirmProvider>
  );
}
