/**
 * Deep copy of JSON-shaped data (plain objects, arrays, primitives), as store records are. Several times faster
 * than `structuredClone` for the small records on the send path.
 */
export function cloneData<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(cloneData) as T;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const child = cloneData((value as Record<string, unknown>)[key]);
    // A plain assignment to "__proto__" would set the prototype instead of copying the key.
    if (key === '__proto__')
      Object.defineProperty(copy, key, {
        value: child,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else copy[key] = child;
  }
  return copy as T;
}
