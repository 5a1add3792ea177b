// The catalog page in a real browser: Debian's chromium driven by playwright-core (never a
// downloaded browser), against a tree built through the real CLI and served by a real
// nginx on 127.0.0.1. Three models: one stored in parts (a Cloudflare Pages tree and a
// file over its 25 MiB limit), one rolled out to 20 %, one whose label is markup.
// Checks: config and labels render, the hostile label is text and opens no dialog, search
// and filters work, every link answers 200 from nginx, no horizontal overflow at 390 px
// and 1280 px (and no wrapped timestamp or size at 1280 px), keyboard reaches the search,
// the page reads with JavaScript off. Saves catalog-390.png and catalog-1280.png in --out.
//
// Usage: node catalog_page_test.mjs --modelcast PATH --out DIR [--nginx PATH] [--chromium PATH]
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) => {
  if (a.startsWith('--')) pairs.push([a.slice(2), all[i + 1]]);
  return pairs;
}, []));
const modelcast = args.modelcast, outDir = args.out;
const nginxBin = args.nginx || '/usr/sbin/nginx', chromiumBin = args.chromium || '/usr/bin/chromium';
if (!modelcast || !outDir) {
  console.error('usage: catalog_page_test.mjs --modelcast PATH --out DIR [--nginx PATH] [--chromium PATH]');
  process.exit(2);
}

const here = path.dirname(new URL(import.meta.url).pathname);
let chromium;
try {
  chromium = createRequire(path.join(here, 'package.json'))('playwright-core').chromium;
} catch (e) {
  console.error(`error: playwright-core is not installed in ${here}/node_modules: run (cd ${here} && npm ci --ignore-scripts)`);
  process.exit(1);
}
for (const [what, file] of [['chromium', chromiumBin], ['nginx', nginxBin]])
  if (!fs.existsSync(file)) {
    console.error(`error: ${what} not found at ${file} (scripts/lib/setup.sh installs it)`);
    process.exit(1);
  }

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelcast-browser-'));
const cleanups = [() => fs.rmSync(work, { recursive: true, force: true })];
let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}
function finish(code) {
  for (const c of cleanups.reverse()) {
    try { c(); } catch (e) { /* cleaning up; the result is already decided */ }
  }
  process.exit(code);
}
// Bounded: whatever hangs, the test ends by itself.
const deadline = setTimeout(() => { console.error('error: catalog browser test took over 240 s'); finish(1); }, 240000);

function cli(...argv) {
  const r = spawnSync(modelcast, argv, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`modelcast ${argv.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}
function get(url) {
  return new Promise((resolve) => {
    http.get(url, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); })
      .on('error', (e) => resolve(`error ${e.message}`));
  });
}
function config(labels, extraOutput) {
  const outputs = [{ name: 'scores', dtype: 'float32', shape: [1, labels.length], labels }];
  if (extraOutput) outputs.push(extraOutput);
  return JSON.stringify({ inputs: [{ name: 'image', dtype: 'uint8', shape: [1, 224, 224, 3] }], outputs,
                          features: [], metadata: { owner: 'vision-team' } });
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}/`;
  const tree = path.join(work, 'tree'), key = path.join(work, 'publisher.pem');
  cli('init', tree, '--base-url', base, '--host', 'cloudflare-pages');
  cli('keygen', '--out', key);
  const publish = (model, platform, cfg, file, ...extra) => {
    fs.writeFileSync(path.join(work, 'config.json'), cfg);
    cli('publish', tree, '--model', model, '--platform', platform, '--config', path.join(work, 'config.json'), '--key', key,
        '--quiet', ...extra, file);
  };
  // 26 MiB of noise: over Cloudflare Pages' 25 MiB, so it is stored only as parts.
  const big = path.join(work, 'segmenter.bin');
  const fd = fs.openSync(big, 'w');
  for (let i = 0; i < 26; i++) fs.writeSync(fd, randomBytes(1 << 20));
  fs.closeSync(fd);
  publish('segmenter', 'android', config(['background', 'person']), big);
  const small = path.join(work, 'classifier.bin');
  fs.writeFileSync(small, randomBytes(40000));
  publish('classifier', 'android', config(['cat', 'dog']), small);
  fs.writeFileSync(small, randomBytes(40000));
  publish('classifier', 'android', config(['cat', 'wolf'], { name: 'kind', dtype: 'int32', shape: [1], labels: ['pet'] }),
          small, '--rollout', '20');
  const hostileFile = path.join(work, 'hostile.bin');
  fs.writeFileSync(hostileFile, randomBytes(30000));
  publish('hostile', 'ios', config(['<img src=x onerror=alert(1)>', 'ok']), hostileFile);

  // nginx on 127.0.0.1 serving the tree as a static host would.
  const prefix = path.join(work, 'nginx');
  fs.mkdirSync(prefix);
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), `${process.getuid() === 0 ? 'user root;\n' : ''}worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log;
events { worker_connections 64; }
http {
  access_log ${prefix}/access.log;
  client_body_temp_path ${prefix}/body;
  types { text/html html; application/json json; }
  default_type application/octet-stream;
  server { listen 127.0.0.1:${port}; root ${tree}; location / { } }
}
`);
  const nginx = spawn(nginxBin, ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')], { stdio: 'inherit' });
  cleanups.push(() => nginx.kill('SIGTERM'));
  for (let i = 0; i < 100 && (await get(base + 'index.html')) !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  check((await get(base + 'index.html')) === 200, 'nginx serves index.html');

  const launch = (javaScriptEnabled) => chromium.launchPersistentContext(fs.mkdtempSync(path.join(work, 'profile-')), {
    executablePath: chromiumBin,
    headless: true,
    javaScriptEnabled,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  const context = await launch(true);
  cleanups.push(() => context.close());
  const page = context.pages()[0] || (await context.newPage());
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(base + 'index.html', { waitUntil: 'load' });

  // Config and labels.
  const classifier = page.locator('section[data-model="classifier"]');
  const classifierText = await classifier.innerText();
  check(/out\s+scores\s+float32\s+\[1,2\]\s+cat, wolf/.test(classifierText), 'classifier config row: out scores float32 [1,2] cat, wolf');
  check(/out\s+kind\s+int32\s+\[1\]\s+pet/.test(classifierText), 'classifier second output with its label');
  check(classifierText.includes('in image\tuint8\t[1,224,224,3]') || /in image\s+uint8\s+\[1,224,224,3\]/.test(classifierText),
        'input tensor with dtype and shape');
  check(classifierText.includes('20% of devices; the others get v1 (fallback)'), 'rollout at 20% with its fallback');
  const history = await classifier.locator('details.hist').textContent();
  check(history.includes('output scores label 1: dog -> wolf') && history.includes('rollout: everyone -> 20%'),
        'the history says what changed in each version');
  const segmenterText = await page.locator('section[data-model="segmenter"]').innerText();
  check(/2 parts/.test(segmenterText), 'the split file lists its parts');

  // The hostile label is text, and nothing ran.
  const hostile = page.locator('section[data-model="hostile"]');
  check((await hostile.innerText()).includes('<img src=x onerror=alert(1)>'), 'the hostile label shows as text');
  check((await page.locator('img').count()) === 0, 'no img element on the page');
  await page.waitForTimeout(300);
  check(dialogs.length === 0, `no dialog opened (${dialogs.length})`);
  check(pageErrors.length === 0, `no script error (${pageErrors.join('; ')})`);

  // Search and filters.
  const visible = () => page.locator('#streams section.s:visible').count();
  check((await visible()) === 3, 'three streams shown');
  await page.fill('#q', 'segmenter');
  check((await visible()) === 1, 'search "segmenter" shows one stream');
  await page.fill('#q', 'wolf');
  check((await visible()) === 1 && (await classifier.isVisible()), 'search by a label finds its model');
  await page.fill('#q', '');
  await page.selectOption('#fp', 'ios');
  check((await visible()) === 1 && (await hostile.isVisible()), 'platform filter ios shows the ios stream');
  await page.selectOption('#fp', '');
  await page.selectOption('#fm', 'classifier');
  check((await visible()) === 1, 'model filter shows one stream');
  await page.selectOption('#fm', '');
  check((await page.locator('#count').innerText()) === '3 of 3 shown', 'the count says what is shown');

  // Keyboard: Tab reaches the search box.
  await page.locator('body').click({ position: { x: 1, y: 1 } });
  let reached = false;
  for (let i = 0; i < 60 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement && document.activeElement.id === 'q');
  }
  check(reached, 'Tab reaches the search box');

  // Every link answers 200 from nginx.
  const hrefs = await page.$$eval('a[href]', (as) => as.map((a) => a.href));
  check(hrefs.length > 10, `the page has links (${hrefs.length})`);
  check(hrefs.filter((h) => h.includes('/parts/sha256/')).length === 2, 'the split file links its two parts');
  check(!hrefs.some((h) => h.endsWith('/keys/')), 'no link to the keys/ folder');
  for (const h of [...new Set(hrefs)]) {
    const status = await get(h);
    check(status === 200, `${status} ${h.slice(base.length)}`);
  }

  // Both widths: no horizontal overflow; at 1280 px no timestamp or size wraps.
  for (const width of [390, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    await page.evaluate(() => document.querySelectorAll('details').forEach((d) => { d.open = true; }));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `${width} px: no horizontal overflow (${overflow} px beyond)`);
    if (width === 1280) {
      // A line box per line of text: more than one distinct top means the text wrapped.
      const wrapped = await page.$$eval('.nw', (els) => els.filter((e) => {
        const range = document.createRange();
        range.selectNodeContents(e);
        return new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top))).size > 1;
      }).map((e) => e.textContent));
      check(wrapped.length === 0, `1280 px: no wrapped timestamp or size (${wrapped.join(' | ')})`);
    }
    const shot = path.join(outDir, `catalog-${width}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot ${shot}`);
    await page.locator('section[data-model="classifier"]').scrollIntoViewIfNeeded();
    const top = path.join(outDir, `catalog-${width}-classifier.png`);
    await page.screenshot({ path: top });
    console.log(`screenshot ${top}`);
  }

  // JavaScript off: everything reads, the search box (which needs the script) stays hidden.
  const noScript = await launch(false);
  cleanups.push(() => noScript.close());
  const plain = noScript.pages()[0] || (await noScript.newPage());
  await plain.goto(base + 'index.html', { waitUntil: 'load' });
  check((await plain.locator('section.s').count()) === 3, 'JavaScript off: three streams');
  check((await plain.locator('section[data-model="classifier"]').innerText()).includes('wolf'), 'JavaScript off: labels read');
  check(!(await plain.locator('#filters').isVisible()), 'JavaScript off: no dead search box');
  await noScript.close();
  await context.close();
}

main()
  .then(() => { clearTimeout(deadline); console.log(failures ? `${failures} check(s) failed` : 'all checks passed'); finish(failures ? 1 : 0); })
  .catch((e) => { console.error(`error: ${e.stack || e.message}`); finish(1); });
