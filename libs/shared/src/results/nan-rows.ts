/** `rows x columns` little-endian float32 NaN: the rows of failed or missing items in the f32 and npy downloads. */
export function nanRows(rows: number, columns: number): Buffer {
  const buffer = Buffer.alloc(rows * columns * 4);
  for (let offset = 0; offset < buffer.length; offset += 4) buffer.writeFloatLE(Number.NaN, offset);
  return buffer;
}
