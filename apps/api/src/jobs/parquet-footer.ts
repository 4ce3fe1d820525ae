/**
 * The row count a Parquet file's footer declares, read from the file's last bytes: a file ends with
 * the FileMetaData (Thrift compact protocol), its length as a little-endian u32, and "PAR1".
 * FileMetaData starts `1: i32 version, 2: list<SchemaElement> schema, 3: i64 num_rows`, so the
 * schema list is skipped field by field and num_rows read (parquet.thrift in apache/parquet-format).
 */

/** The tail does not hold a whole footer, or the footer is not Thrift as Parquet writes it. */
export class ParquetFooterError extends Error {
  override readonly name = 'ParquetFooterError';
}

const MAGIC = 'PAR1';
const NUM_ROWS_FIELD = 3;
/** Thrift compact protocol type ids. */
const Wire = { Stop: 0, True: 1, False: 2, Byte: 3, I16: 4, I32: 5, I64: 6, Double: 7, Binary: 8, List: 9, Set: 10, Map: 11, Struct: 12 } as const;

/** `num_rows` of the footer at the end of `tail` (the last bytes of a file, footer included). */
export function parquetFooterRows(tail: Uint8Array): number {
  const bytes = Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength);
  if (bytes.length < 8 || bytes.toString('latin1', bytes.length - 4) !== MAGIC) throw new ParquetFooterError('the bytes do not end with "PAR1"');
  const length = bytes.readUInt32LE(bytes.length - 8);
  if (length + 8 > bytes.length) throw new ParquetFooterError(`the footer has ${length} bytes; only ${bytes.length - 8} are at hand`);
  const reader = new CompactReader(bytes.subarray(bytes.length - 8 - length, bytes.length - 8));
  let field = 0;
  for (;;) {
    const header = reader.byte();
    const type = header & 0x0f;
    if (type === Wire.Stop) throw new ParquetFooterError('FileMetaData has no num_rows');
    field = header >> 4 === 0 ? reader.zigzag() : field + (header >> 4);
    if (field === NUM_ROWS_FIELD && type === Wire.I64) return reader.zigzag();
    reader.skip(type);
  }
}

class CompactReader {
  private at = 0;

  constructor(private readonly bytes: Buffer) {}

  byte(): number {
    if (this.at >= this.bytes.length) throw new ParquetFooterError('the footer ends inside a value');
    return this.bytes[this.at++] as number;
  }

  varint(): bigint {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = this.byte();
      value |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return value;
    }
  }

  zigzag(): number {
    const raw = this.varint();
    return Number((raw >> 1n) ^ -(raw & 1n));
  }

  /** A value inside a list, set or map, where a boolean takes a byte of its own. */
  private skipElement(type: number): void {
    if (type === Wire.True || type === Wire.False) this.at += 1;
    else this.skip(type);
  }

  skip(type: number): void {
    switch (type) {
      case Wire.True:
      case Wire.False:
        return;
      case Wire.Byte:
        this.at += 1;
        return;
      case Wire.I16:
      case Wire.I32:
      case Wire.I64:
        this.varint();
        return;
      case Wire.Double:
        this.at += 8;
        return;
      case Wire.Binary: {
        // Not `this.at += ...`: that reads `at` before the length is consumed.
        const length = Number(this.varint());
        this.at += length;
        return;
      }
      case Wire.List:
      case Wire.Set: {
        const header = this.byte();
        const size = header >> 4 === 15 ? Number(this.varint()) : header >> 4;
        for (let i = 0; i < size; i++) this.skipElement(header & 0x0f);
        return;
      }
      case Wire.Map: {
        const size = Number(this.varint());
        if (size === 0) return;
        const types = this.byte();
        for (let i = 0; i < size; i++) {
          this.skipElement(types >> 4);
          this.skipElement(types & 0x0f);
        }
        return;
      }
      case Wire.Struct: {
        for (;;) {
          const header = this.byte();
          if ((header & 0x0f) === Wire.Stop) return;
          if (header >> 4 === 0) this.zigzag();
          this.skip(header & 0x0f);
        }
      }
      default:
        throw new ParquetFooterError(`unknown Thrift type ${type}`);
    }
  }
}
