import { PageHeader } from "../components/ui.tsx";
import type { Route } from "../router.ts";

export function HistoryPage({ route }: { route: Route }) {
  void route;
  return <PageHeader title="History" />;
}
