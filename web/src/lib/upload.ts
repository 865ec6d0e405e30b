// A browser upload through the presigned POST of POST /documents: the form's fields, then the
// file, to S3 directly (the API never sees the bytes). XMLHttpRequest because fetch reports no
// upload progress; registering an upload listener makes the browser send a CORS preflight,
// which the bucket's CORS rule answers.
import type { components } from "@/api/schema";

export type UploadForm = { url: string; fields: Record<string, string> };
export type ContentType = components["schemas"]["DocumentCreate"]["content_type"];
const ACCEPTED: Record<string, ContentType> = {
  md: "text/markdown",
  markdown: "text/markdown",
  txt: "text/plain",
  csv: "text/csv",
  json: "application/json",
  html: "text/html",
  htm: "text/html",
  pdf: "application/pdf",
};

export function uploadFile(
  form: UploadForm,
  file: File,
  onProgress: (fraction: number) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = new FormData();
    for (const [name, value] of Object.entries(form.fields)) body.append(name, value);
    body.append("file", file); // last: S3 ignores the fields after the file
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.url);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
        return;
      }
      const code = /<Code>([^<]+)<\/Code>/.exec(xhr.responseText)?.[1];
      const message = /<Message>([^<]+)<\/Message>/.exec(xhr.responseText)?.[1];
      reject(new Error(`The storage refused the file (${code ?? xhr.status}): ${message ?? ""}`));
    });
    xhr.addEventListener("error", () => reject(new Error("The upload could not reach the storage.")));
    xhr.send(body);
  });
}

/** The media type the API accepts for ``file`` (by its type, else its name), or null. */
export function contentTypeOf(file: File): ContentType | null {
  const types = Object.values(ACCEPTED) as string[];
  if (types.includes(file.type)) return file.type as ContentType;
  const extension = file.name.split(".").pop()?.toLowerCase() ?? "";
  return ACCEPTED[extension] ?? null;
}
