// Starts a real `fieldcase serve` on loopback in a throwaway directory and fills it the way the
// field does: through the real command line — agencies, users, enrolled device profiles, cases
// imported from JSON Lines, a sync, a referral answered by the other agency.
//
// The population is small and fully known, so the test can compute every figure the
// dashboard should show from `POPULATION` itself, independently of the server's report code.

import { spawn, execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = process.env.FIELDCASE_BIN;
const PASSPHRASE = 'dashboard test passphrase, not for the field';

export const AGENCIES = {
  iom_uga: { name: 'IOM Uganda', country: 'UGA' },
  iom_eth: { name: 'IOM Ethiopia', country: 'ETH' },
};

function consent(date) {
  return { assistance: { given: true, date, recorded_by: 'cw-1' }, data_sharing: 'none' };
}

// One case per entry. `dup` marks the two records of one person (recorded by both agencies:
// names swapped and transliterated, date of birth partial on one side).
function population() {
  const cases = [];
  const sexes = ['female', 'female', 'male', 'female', 'male', 'female', 'other'];
  const nationalities = ['ETH', 'ETH', 'SOM', 'ERI', 'ETH', 'COD', 'SSD'];
  for (let i = 0; i < 14; i++) {
    const agency = i % 2 === 0 ? 'iom_uga' : 'iom_eth';
    const year = 1980 + i;
    const vot = i % 3 !== 2;
    cases.push({
      agency,
      fields: {
        given_name: `Person${String.fromCharCode(65 + i)}`,
        family_name: `Family${String.fromCharCode(75 + i)}`,
        date_of_birth: `${year}-0${1 + (i % 9)}-1${i % 9}`,
        sex: sexes[i % sexes.length],
        nationality: nationalities[i % nationalities.length],
        country_of_assistance: AGENCIES[agency].country,
        intake_date: `2026-0${1 + (i % 9)}-15`,
        categories: vot ? ['victim_of_trafficking'] : ['stranded_migrant'],
        programme: vot ? 'direct_assistance' : 'avrr',
        ...(vot
          ? {
              exploitation_types: i % 4 === 0 ? ['sexual', 'labour'] : ['labour'],
              labour_sectors: ['agriculture'],
              trafficking_type: 'international',
            }
          : {}),
        consent: consent(`2026-0${1 + (i % 9)}-15`),
      },
    });
  }
  // The same woman, recorded in Uganda and again in Ethiopia after her return.
  const shared = {
    sex: 'female', nationality: 'ETH', categories: ['victim_of_trafficking'],
    programme: 'direct_assistance', exploitation_types: ['domestic_servitude'],
    trafficking_type: 'international',
  };
  cases.push({
    agency: 'iom_uga', dup: true,
    fields: { ...shared, given_name: 'Selamawit', family_name: 'Gebremariam',
      date_of_birth: '1990-03-12', country_of_assistance: 'UGA', intake_date: '2026-02-10',
      consent: consent('2026-02-10') },
  });
  cases.push({
    agency: 'iom_eth', dup: true,
    fields: { ...shared, given_name: 'Gebremariyam', family_name: 'Selamawit',
      date_of_birth: '1990', country_of_assistance: 'ETH', intake_date: '2026-05-20',
      programme: 'avrr', consent: consent('2026-05-20') },
  });
  return cases;
}

export const POPULATION = population();

async function cli(env, ...args) {
  const { stdout } = await run(BIN, ['--json', ...args], {
    env: { ...process.env, ...env },
    maxBuffer: 16 * 1024 * 1024,
  });
  const text = stdout.trim();
  if (!text) return null;
  // One JSON document, or (commands that report progress) JSON lines ending with the result.
  try {
    return JSON.parse(text);
  } catch {
    return JSON.parse(text.split('\n').pop());
  }
}

function startServer(dataDir) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let seen = '';
    const onData = (chunk) => {
      seen += chunk.toString();
      const match = seen.match(/listening on (http:\/\/[0-9.:]+)/);
      if (match) {
        child.stdout.off('data', onData);
        resolve({ child, url: match[1] });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', () => {});
    child.on('exit', (code) => reject(new Error(`fieldcase serve exited (${code}) before listening`)));
  });
}

/// Starts and seeds a server; returns what the test needs to reach it and clean up.
export async function seededServer() {
  if (!BIN) throw new Error('FIELDCASE_BIN must name the fieldcase binary (scripts/dashboard-test.sh sets it)');
  const dir = await mkdtemp(join(tmpdir(), 'fieldcase-dashboard-'));
  const { child, url } = await startServer(join(dir, 'server'));
  const adminToken = (await readFile(join(dir, 'server', 'admin.token'), 'utf8')).trim();
  const admin = (...args) =>
    cli({ FIELDCASE_ADMIN_TOKEN: adminToken }, 'admin', '--server', url, ...args);
  const device = (profile, ...args) =>
    cli({ FIELDCASE_PASSPHRASE: PASSPHRASE }, 'device', '--dir', join(dir, 'devices'),
      '--profile', profile, ...args);

  for (const [code, { name }] of Object.entries(AGENCIES)) {
    await admin('agency', 'add', code, '--name', name);
    const user = await admin('user', 'add', '--agency', code, '--role', 'caseworker',
      '--name', `caseworker of ${code}`);
    const enrollment = await admin('enroll-code', '--user', user.id);
    await device(code, 'enroll', '--server', url, '--code', enrollment.code);
    const lines = POPULATION.filter((c) => c.agency === code)
      .map((c) => JSON.stringify(c.fields)).join('\n');
    const file = join(dir, `${code}.jsonl`);
    await writeFile(file, lines + '\n');
    await device(code, 'import', file);
    await device(code, 'sync');
  }

  // Uganda refers its first case to Ethiopia; Ethiopia accepts.
  const ugandaCases = await device('iom_uga', 'list', '--limit', '100');
  const referred = ugandaCases[ugandaCases.length - 1].id;
  const referral = await device('iom_uga', 'referral', 'create', referred, '--to', 'iom_eth',
    '--services', 'shelter', '--reason', 'needs a shelter place', '--share', 'sex,nationality');
  await device('iom_uga', 'sync');
  await device('iom_eth', 'sync');
  await device('iom_eth', 'referral', 'accept', referral.id);
  await device('iom_eth', 'sync');
  await device('iom_uga', 'sync');

  return {
    url,
    admin,
    adminToken,
    async close() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
