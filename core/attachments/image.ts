/**
 * Image uploads are decoded and re-encoded by sharp (libvips): the stored file is pixels only, so
 * EXIF (GPS position, camera, time), XMP, IPTC and comments are gone. The header is read first and
 * its declared dimensions checked before any pixel is decoded, so a "decompression bomb" (a small
 * file declaring 30000 x 30000) costs a header read; limitInputPixels guards the decode as well.
 */
import sharp from 'sharp';
import { ParleyError } from '../errors.ts';
import type { Sniffed } from './sniff.ts';

export interface ImageLimits {
  maxPixels: number;
  /** Longest side of the thumbnail. */
  thumbPx: number;
}

export interface ProcessedImage {
  content: Buffer;
  thumbnail: Buffer;
  width: number;
  height: number;
}

// One libvips job at a time per upload is enough on a chat node; its cache would hold decoded images.
sharp.cache(false);
sharp.concurrency(1);

/** Validates, strips and thumbnails an image whose kind `sniff` found; throws the catalog codes. */
export async function processImage(input: Buffer, kind: Sniffed, limits: ImageLimits): Promise<ProcessedImage> {
  const animated = kind.kind === 'gif' || kind.kind === 'webp';
  let meta: sharp.Metadata;
  try {
    meta = await sharp(input, { animated, limitInputPixels: false }).metadata();
  } catch (err) {
    throw invalid(kind, err);
  }
  const width = meta.width ?? 0;
  const frameHeight = meta.pageHeight ?? meta.height ?? 0;
  const frames = animated ? meta.pages ?? 1 : 1;
  if (width <= 0 || frameHeight <= 0) throw new ParleyError('attachment_invalid', `the ${kind.kind.toUpperCase()} header declares no dimensions`);
  const pixels = width * frameHeight * frames;
  if (pixels > limits.maxPixels) {
    throw new ParleyError('attachment_dimensions', `the image declares ${width} x ${frameHeight}${frames > 1 ? ` x ${frames} frames` : ''} = ${pixels} pixels; this node decodes at most ${limits.maxPixels}`, { width, height: frameHeight, frames, maxPixels: limits.maxPixels });
  }
  try {
    // failOn 'warning' (the default, the strictest): a truncated file fails instead of decoding grey.
    const decoder = sharp(input, { animated, limitInputPixels: limits.maxPixels, failOn: 'warning' });
    // rotate() applies the EXIF orientation to the pixels before the EXIF block is dropped.
    const oriented = animated ? decoder : decoder.rotate();
    const encoded = await encode(oriented, kind.kind).toBuffer({ resolveWithObject: true });
    const thumbnail = await sharp(encoded.data, { animated: false, limitInputPixels: limits.maxPixels })
      .resize(limits.thumbPx, limits.thumbPx, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 75 })
      .toBuffer();
    return { content: encoded.data, thumbnail, width: encoded.info.width, height: animated ? frameHeight : encoded.info.height };
  } catch (err) {
    throw invalid(kind, err);
  }
}

function encode(img: sharp.Sharp, kind: string): sharp.Sharp {
  switch (kind) {
    case 'jpeg': return img.jpeg({ quality: 90 });
    case 'png': return img.png();
    case 'webp': return img.webp({ quality: 90 });
    default: return img.gif();
  }
}

function invalid(kind: Sniffed, err: unknown): ParleyError {
  const reason = err instanceof Error ? err.message.split('\n')[0]!.slice(0, 200) : String(err);
  return new ParleyError('attachment_invalid', `the upload starts like a ${kind.kind.toUpperCase()} image but does not decode (truncated or corrupt): ${reason}`);
}
