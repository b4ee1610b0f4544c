// Cutting user text short without splitting a character: half a surrogate pair is not valid
// Unicode (the store refuses the whole save), and half a grapheme (an emoji with its skin tone, a
// letter with its accent) shows as another character.
const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/**
 * The longest start of `text` of at most `max` code points that ends between two graphemes. A
 * first grapheme longer than `max` on its own (stacked combining marks) is cut between code points.
 * The segmenter is lazy, so the cost follows `max`, not the length of `text`.
 */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = 0;
  let points = 0;
  for (const { segment, index } of graphemes.segment(text)) {
    points += [...segment].length;
    if (points > max) break;
    end = index + segment.length;
  }
  if (end > 0) return text.slice(0, end);
  // At most `max` code points lie in the first 2 × max UTF-16 units, so none is cut in half.
  return [...text.slice(0, 2 * max)].slice(0, max).join("");
}
