import { Shell } from "@/components/Shell";

export default function SignedInLayout({ children }: { children: React.ReactNode }) {
  return <Shell>{children}</Shell>;
}
