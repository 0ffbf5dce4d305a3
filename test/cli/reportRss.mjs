// Preloaded into a CLI subprocess by the tests: records its peak RSS (KiB) when it exits.
import { writeFileSync } from 'node:fs';

process.on('exit', () => {
  if (process.env.SONARLY_TEST_RSS_FILE) writeFileSync(process.env.SONARLY_TEST_RSS_FILE, String(process.resourceUsage().maxRSS));
});
