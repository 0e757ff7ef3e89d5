import { PageHeader } from "../components/ui.tsx";

export function TaskPage({ taskId }: { taskId: string }) {
  return <PageHeader title={taskId} />;
}
