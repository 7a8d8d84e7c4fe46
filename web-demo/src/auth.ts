// The signed-in user and token live in localStorage under the keys the spec names.
const TOKEN_KEY = "lychee_token";
const USER_KEY = "lychee_user";

export interface StoredUser {
  user_id: string;
  username: string;
  display_name: string;
  anonymous: boolean;
}

export function readToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function readUser(): StoredUser | null {
  const raw = localStorage.getItem(USER_KEY);
  if (!raw) return null;
  try {
    const user = JSON.parse(raw) as Partial<StoredUser>;
    if (typeof user.username !== "string") return null;
    return {
      user_id: String(user.user_id ?? ""),
      username: user.username,
      display_name: String(user.display_name ?? user.username),
      anonymous: Boolean(user.anonymous),
    };
  } catch {
    return null;
  }
}

export function saveAuth(token: string | null, user: StoredUser): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
  localStorage.setItem(USER_KEY, JSON.stringify(user));
}

export function clearAuth(): void {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
}
