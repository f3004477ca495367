/**
 * Image references as Docker reads them (the grammar of distribution/reference): `[host[:port]/]path
 * [:tag][@digest]`, where the path is lower case. A reference the engine would refuse ("invalid
 * reference format") is reported when the step file is compiled, at the image's position, instead of
 * failing the run.
 */

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(
  `^((?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::${TAG})?(?:@${DIGEST})?$`,
);

/** The longest repository name Docker takes. */
const MAX_NAME = 255;
/** Longer references are refused before the pattern is tried (it backtracks on long host names). */
const MAX_REFERENCE = MAX_NAME + 1 + 128 + 1 + 200;

/**
 * Why Docker would refuse `image` as an image reference, or undefined when it takes it. (An image ID,
 * `sha256:<hex>` or a short hex ID, is a reference too.)
 */
export function imageReferenceProblem(image: string): string | undefined {
  if (image.length > MAX_REFERENCE)
    return `is ${image.length} characters long, too long for an image reference`;
  const match = REFERENCE.exec(image);
  if (match !== null) {
    return match[1]!.length > MAX_NAME
      ? `has a repository name longer than ${MAX_NAME} characters`
      : undefined;
  }
  if (/\s/.test(image)) return 'holds a space or another blank, which no image reference can';
  if (REFERENCE.test(image.toLowerCase())) {
    return 'has upper-case letters in its repository name, which Docker takes in lower case only';
  }
  return 'is not an image reference Docker takes ([host[:port]/]name[:tag][@digest], e.g. kiln-fixture/busybox:latest)';
}
