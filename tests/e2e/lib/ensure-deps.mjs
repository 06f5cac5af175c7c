// Installs the e2e dependencies exactly as locked (`npm ci`), unless node_modules already holds
// every package of package-lock.json at its locked version. Run by ctest as a fixture before the
// e2e tests, so `ctest -L e2e` works on a fresh checkout and costs nothing on the second run.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function missingPackages() {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  const missing = [];
  for (const [path, meta] of Object.entries(lock.packages ?? {})) {
    if (path === '' || meta.optional || meta.link) continue;
    const manifest = join(root, path, 'package.json');
    if (!existsSync(manifest)) {
      missing.push(`${path} (absent)`);
      continue;
    }
    const { version } = JSON.parse(readFileSync(manifest, 'utf8'));
    if (version !== meta.version) missing.push(`${path} (${version}, locked ${meta.version})`);
  }
  return missing;
}

const missing = missingPackages();
if (missing.length === 0) {
  console.log('e2e dependencies already match package-lock.json');
  process.exit(0);
}
console.log(`installing e2e dependencies (npm ci): ${missing.join(', ')}`);
const npm = process.env.NPM_BIN || 'npm';
try {
  execFileSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
} catch (e) {
  console.error(
    `'npm ci' failed in ${root}: ${e.message}\n` +
      'The e2e tests need the npm registry once (or a prepared node_modules); run `npm ci` there by hand.',
  );
  process.exit(1);
}
const still = missingPackages();
if (still.length > 0) {
  console.error(`after npm ci, still missing: ${still.join(', ')}`);
  process.exit(1);
}
