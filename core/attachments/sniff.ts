/**
 * What an upload is, from its first bytes: the client's Content-Type and file name are never
 * trusted. Images are the four the node decodes and re-encodes; other kinds are accepted only when
 * named in the setting attachmentExtraTypes, and served as downloads (Content-Disposition: attachment).
 */

export interface Sniffed {
  /** Catalog name: jpeg, png, webp, gif, or a key of EXTRA_TYPES. */
  readonly kind: string;
  /** The Content-Type the node stores and serves. */
  readonly type: string;
  /** Whether the node decodes it (validation, metadata stripping, thumbnail). */
  readonly image: boolean;
  /** File extension for a default file name. */
  readonly ext: string;
}

const IMAGES: readonly (Sniffed & { magic: (b: Buffer) => boolean })[] = [
  { kind: 'jpeg', type: 'image/jpeg', image: true, ext: 'jpg', magic: (b) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { kind: 'png', type: 'image/png', image: true, ext: 'png', magic: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) },
  { kind: 'gif', type: 'image/gif', image: true, ext: 'gif', magic: (b) => /^GIF8[79]a/.test(b.subarray(0, 6).toString('latin1')) },
  { kind: 'webp', type: 'image/webp', image: true, ext: 'webp', magic: (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP' },
];

/**
 * Kinds an operator may allow besides images (attachmentExtraTypes, comma-separated). They are
 * stored as uploaded. `octet-stream` admits any content that is no image and no other listed kind.
 */
export const EXTRA_TYPES: Readonly<Record<string, Sniffed & { magic: (b: Buffer) => boolean }>> = Object.freeze({
  pdf: { kind: 'pdf', type: 'application/pdf', image: false, ext: 'pdf', magic: (b) => b.subarray(0, 5).toString('latin1') === '%PDF-' },
  zip: { kind: 'zip', type: 'application/zip', image: false, ext: 'zip', magic: (b) => b.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04])) },
  mp4: { kind: 'mp4', type: 'video/mp4', image: false, ext: 'mp4', magic: (b) => b.subarray(4, 8).toString('latin1') === 'ftyp' },
  webm: { kind: 'webm', type: 'video/webm', image: false, ext: 'webm', magic: (b) => b.subarray(0, 4).equals(Buffer.from([0x1a, 0x45, 0xdf, 0xa3])) },
  ogg: { kind: 'ogg', type: 'audio/ogg', image: false, ext: 'ogg', magic: (b) => b.subarray(0, 4).toString('latin1') === 'OggS' },
  mp3: { kind: 'mp3', type: 'audio/mpeg', image: false, ext: 'mp3', magic: (b) => b.subarray(0, 3).toString('latin1') === 'ID3' || (b.length >= 2 && b[0] === 0xff && (b[1]! & 0xe0) === 0xe0) },
  'octet-stream': { kind: 'octet-stream', type: 'application/octet-stream', image: false, ext: 'bin', magic: () => true },
});

/** Bytes of an upload that sniff needs. */
export const SNIFF_BYTES = 16;

const strip = ({ kind, type, image, ext }: Sniffed): Sniffed => ({ kind, type, image, ext });

/**
 * The kind of `head` (the first SNIFF_BYTES or more of the upload) among images and the allowed
 * extra kinds; undefined when it is none of them. A "PNG" whose bytes are a script is none.
 */
export function sniff(head: Buffer, allowed: readonly string[] = []): Sniffed | undefined {
  const image = IMAGES.find((t) => t.magic(head));
  if (image) return strip(image);
  // octet-stream last: a PDF is served as a PDF when both are allowed.
  const extras = allowed.filter((k) => k !== 'octet-stream').concat(allowed.includes('octet-stream') ? ['octet-stream'] : []);
  for (const k of extras) {
    const t = EXTRA_TYPES[k];
    if (t?.magic(head)) return strip(t);
  }
  return undefined;
}

/** The problems of an attachmentExtraTypes value (a comma-separated list of EXTRA_TYPES keys). */
export function extraTypesProblem(value: string): string | undefined {
  const unknown = parseExtraTypes(value).filter((k) => !Object.hasOwn(EXTRA_TYPES, k));
  if (unknown.length === 0) return undefined;
  return `attachmentExtraTypes must be a comma-separated list of ${Object.keys(EXTRA_TYPES).join(', ')}; got unknown ${unknown.map((k) => `"${k.slice(0, 20)}"`).join(', ')}`;
}

export function parseExtraTypes(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
}
