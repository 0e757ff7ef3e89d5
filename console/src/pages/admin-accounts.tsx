import { PageHeader } from "../components/ui.tsx";

export function AdminAccountsPage() {
  return <PageHeader title="Accounts" />;
}

export function AdminAccountPage({ account }: { account: string }) {
  return <PageHeader title={account} />;
}
