import { PageHeader } from "../components/ui.tsx";

export function UsagePage() {
  return <PageHeader title="Usage" />;
}
