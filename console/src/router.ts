// Pages live in the URL's fragment (#/history, #/tasks/task_...): the server serves one page at
// /, the API keeps every other path, and a reload or a shared link opens the same page.
import { useEffect, useState } from "preact/hooks";

export interface Route {
  /** The path after #, without its query: "/tasks/task_01..." */
  path: string;
  /** The path's parts: ["tasks", "task_01..."] */
  parts: string[];
  /** The fragment's query: #/history?state=fail */
  params: URLSearchParams;
}

export function currentRoute(): Route {
  const fragment = decodeURI(location.hash.replace(/^#/, "")) || "/";
  const [path = "/", search = ""] = fragment.split("?", 2);
  return { path, parts: path.split("/").filter((part) => part !== ""), params: new URLSearchParams(search) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const changed = () => setRoute(currentRoute());
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}

/** The href of a page: href("/tasks/" + id), href("/history", {state: "fail"}). */
export function href(path: string, params: Record<string, string | null | undefined> = {}): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== null && value !== undefined && value !== "") search.set(name, value);
  const text = search.toString();
  return `#${path}${text === "" ? "" : `?${text}`}`;
}

export function navigate(path: string, params: Record<string, string | null | undefined> = {}): void {
  location.hash = href(path, params);
}
