import { PageHeader } from "../components/ui.tsx";

export function AdminUsagePage() {
  return <PageHeader title="Usage" />;
}
