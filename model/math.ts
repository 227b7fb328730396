/** Small integer helpers the designs and the symmetry reduction share. */

/** Set bits of x (a mask over blocks or pages). */
export function popcount(x: number): number {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}

/** n!: the size of a full orbit of n interchangeable vCPUs. */
export function factorial(n: number): number {
  let f = 1;
  for (let i = 2; i <= n; i++) f *= i;
  return f;
}
