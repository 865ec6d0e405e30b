import type { NextConfig } from "next";

// Exported as static files (web/out): CloudFront serves them from S3 in AWS, the local runner
// on its own origin. No server: every page is a client component that calls the API.
const config: NextConfig = {
  output: "export",
  trailingSlash: false, // /login is login.html: the CDN's viewer-request function maps it
  reactStrictMode: true,
  poweredByHeader: false,
  images: { unoptimized: true },
  turbopack: { root: process.cwd() }, // web/ (the repository root has a lock file of its own)
};

export default config;
