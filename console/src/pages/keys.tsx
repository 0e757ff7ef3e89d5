import { PageHeader } from "../components/ui.tsx";

export function KeysPage() {
  return <PageHeader title="Keys" />;
}
