// Time @vlasky/zongji decoding a binlog range; node zongji_reader.mjs SETTINGS_JSON.
// Prints {"rows": N, "seconds": S}: rows read and seconds from start() to the last row.
import ZongJi from '@vlasky/zongji';

const settings = JSON.parse(process.argv[2]);
const zongji = new ZongJi({
  host: settings.host,
  port: settings.port,
  user: settings.user,
  password: settings.password,
});

let rows = 0;
// Counting non-null values makes the loop read every decoded value.
let present = 0;
let started = 0n;

function touch(image) {
  for (const value of Object.values(image)) {
    if (value !== null) present += 1;
  }
}

function finish() {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(JSON.stringify({ rows, seconds, present }) + '\n');
  zongji.stop();
  process.exit(0);
}

zongji.on('binlog', (event) => {
  const name = event.getEventName();
  if (name !== 'writerows' && name !== 'updaterows' && name !== 'deleterows') return;
  for (const row of event.rows) {
    if (name === 'updaterows') {
      touch(row.before);
      touch(row.after);
    } else {
      touch(row);
    }
    rows += 1;
  }
  if (rows >= settings.rows) finish();
});

zongji.on('error', (error) => {
  process.stderr.write(`zongji failed: ${error.stack || error}\n`);
  process.exit(1);
});

started = process.hrtime.bigint();
zongji.start({
  serverId: settings.serverId,
  filename: settings.filename,
  position: settings.position,
  includeEvents: ['tablemap', 'writerows', 'updaterows', 'deleterows'],
  includeSchema: { [settings.schema]: [settings.table] },
});
