/** Bytes as whole MiB with thousands separators, for memory messages. */
export function mib(bytes: number): string {
  return Math.round(bytes / 2 ** 20).toLocaleString('en-US');
}
