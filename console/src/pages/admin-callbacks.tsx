import { PageHeader } from "../components/ui.tsx";
import type { Route } from "../router.ts";

export function AdminCallbacksPage({ route }: { route: Route }) {
  void route;
  return <PageHeader title="Callback deliveries" />;
}
