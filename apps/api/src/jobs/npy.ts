/**
 * NumPy's .npy format, version 1.0 (numpy/lib/format.py): the magic `\x93NUMPY`, version bytes 1 0,
 * a little-endian uint16 header length, then an ASCII Python dict literal padded with spaces and
 * ended by a newline so that the data starts at a multiple of 64 bytes. The data that follows is
 * C-order rows, here little-endian float32 (`<f4`), which is exactly what the f32 format streams.
 */
const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00]);
const ALIGN = 64;

export function npyHeader(rows: number, columns: number, descr = '<f4'): Buffer {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${rows}, ${columns}), }`;
  // 8 bytes of magic and version, 2 of length, the dict, padding, '\n'.
  const unpadded = MAGIC.length + 2 + dict.length + 1;
  const padding = (ALIGN - (unpadded % ALIGN)) % ALIGN;
  const text = `${dict}${' '.repeat(padding)}\n`;
  if (text.length > 0xffff) throw new Error('npy header too long for format 1.0');
  const header = Buffer.alloc(MAGIC.length + 2 + text.length);
  MAGIC.copy(header, 0);
  header.writeUInt16LE(text.length, MAGIC.length);
  header.write(text, MAGIC.length + 2, 'latin1');
  return header;
}
