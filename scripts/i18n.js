// The translation catalogs of the extension: strings are extracted from the
// `trans.__/_n/_p/_np` calls in src/, translated in a source .po per locale
// (jupyterlab_carto_auth/locale/<locale>/LC_MESSAGES/jupyterlab_carto_auth.po)
// and built into what JupyterLab reads: the .json next to it (the lab's
// translator) and a .mo (gettext). The package build runs `build`; the jest
// test src/__tests__/i18n.spec.ts runs the same checks as `check`.
//
//   node scripts/i18n.js build    .po -> .json + .mo
//   node scripts/i18n.js check    every msgid of src/ translated, none stale
//   node scripts/i18n.js update   add the msgids new in src/ to every .po
'use strict';

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const DOMAIN = 'jupyterlab_carto_auth';
const LOCALE_DIR = path.join(ROOT, 'jupyterlab_carto_auth', 'locale');
const SRC_DIR = path.join(ROOT, 'src');
/** The gettext context separator (msgctxt + EOT + msgid), as gettext and JupyterLab use. */
const CONTEXT_SEPARATOR = '\u0004';

/** Which argument holds what, per TranslationBundle method. */
const METHODS = {
  __: { msgid: 0 },
  gettext: { msgid: 0 },
  _n: { msgid: 0, plural: 1 },
  ngettext: { msgid: 0, plural: 1 },
  _p: { context: 0, msgid: 1 },
  pgettext: { context: 0, msgid: 1 },
  _np: { context: 0, msgid: 1, plural: 2 },
  npgettext: { context: 0, msgid: 1, plural: 2 }
};

/** The key of an entry: what JupyterLab looks a translation up by. */
function keyOf(entry) {
  return entry.msgctxt
    ? entry.msgctxt + CONTEXT_SEPARATOR + entry.msgid
    : entry.msgid;
}

// --- extraction --------------------------------------------------------------

/**
 * The translatable strings of TypeScript sources: calls of a translation
 * method on something named `trans` or `_trans` (`trans.__`,
 * `this._trans._n`, `this._options.trans.__`). A call whose strings are not
 * literals cannot be extracted: it is reported in `problems`.
 */
function extractFromSource(text, fileName) {
  const ts = require('typescript');
  const source = ts.createSourceFile(
    fileName,
    text,
    ts.ScriptTarget.Latest,
    true,
    fileName.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS
  );
  const messages = [];
  const problems = [];
  const literal = node =>
    node &&
    (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))
      ? node.text
      : null;
  const visit = node => {
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      Object.prototype.hasOwnProperty.call(METHODS, node.expression.name.text)
    ) {
      const owner = node.expression.expression;
      const ownerName = ts.isIdentifier(owner)
        ? owner.text
        : ts.isPropertyAccessExpression(owner)
          ? owner.name.text
          : '';
      if (/^_?trans$/.test(ownerName)) {
        const where = `${fileName}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
        const spec = METHODS[node.expression.name.text];
        const args = node.arguments;
        const entry = { refs: [where] };
        let ok = true;
        for (const [field, index] of [
          ['msgctxt', spec.context],
          ['msgid', spec.msgid],
          ['msgid_plural', spec.plural]
        ]) {
          if (index === undefined) {
            continue;
          }
          const value = literal(args[index]);
          if (value === null) {
            ok = false;
          } else {
            entry[field] = value;
          }
        }
        if (ok) {
          messages.push(entry);
        } else {
          problems.push(
            `${where}: ${node.expression.getText()}(...) needs literal strings to be translated`
          );
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { messages, problems };
}

/** The translatable strings of every source file in src/ (tests excluded), merged by key. */
function extract(srcDir = SRC_DIR) {
  const byKey = new Map();
  const problems = [];
  const walk = dir => {
    for (const name of fs.readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      if (fs.statSync(full).isDirectory()) {
        if (name !== '__tests__') {
          walk(full);
        }
      } else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) {
        const relative = path.relative(ROOT, full).split(path.sep).join('/');
        const found = extractFromSource(
          fs.readFileSync(full, 'utf-8'),
          relative
        );
        problems.push(...found.problems);
        for (const message of found.messages) {
          const key = keyOf(message);
          const known = byKey.get(key);
          if (known) {
            known.refs.push(...message.refs);
            if (known.msgid_plural !== message.msgid_plural) {
              problems.push(
                `${message.refs[0]}: "${message.msgid}" is used both with and without a plural (or with two plurals)`
              );
            }
          } else {
            byKey.set(key, message);
          }
        }
      }
    }
  };
  walk(srcDir);
  return { messages: [...byKey.values()], problems };
}

// --- .po ---------------------------------------------------------------------

const ESCAPES = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' };

function unquote(text, where) {
  const match = /^"((?:[^"\\]|\\.)*)"$/.exec(text.trim());
  if (!match) {
    throw new Error(`${where}: expected a quoted string, got ${text}`);
  }
  return match[1].replace(/\\(.)/g, (_, c) => {
    if (!(c in ESCAPES)) {
      throw new Error(`${where}: unknown escape \\${c}`);
    }
    return ESCAPES[c];
  });
}

function quote(text) {
  return (
    '"' +
    text
      .replace(/\\/g, '\\\\')
      .replace(/"/g, '\\"')
      .replace(/\n/g, '\\n')
      .replace(/\t/g, '\\t') +
    '"'
  );
}

/**
 * Parse a .po file: `{ header, entries }`, the header's fields as an object,
 * each entry `{ msgctxt?, msgid, msgid_plural?, msgstr: string[], flags, refs,
 * comments, obsolete }`.
 */
function parsePo(text, fileName = '<po>') {
  const entries = [];
  let entry = null;
  let field = null;
  const start = () => {
    if (!entry) {
      entry = {
        msgstr: [],
        flags: [],
        refs: [],
        comments: [],
        obsolete: false
      };
    }
    return entry;
  };
  const finish = () => {
    if (entry && entry.msgid !== undefined) {
      entries.push(entry);
    } else if (entry && (entry.msgstr.length || entry.msgctxt !== undefined)) {
      throw new Error(`${fileName}: an entry without msgid`);
    }
    entry = null;
    field = null;
  };
  const set = (name, index, value) => {
    const current = start();
    if (name === 'msgstr') {
      current.msgstr[index] = (current.msgstr[index] ?? '') + value;
    } else {
      current[name] = (current[name] ?? '') + value;
    }
  };
  text.split(/\r?\n/).forEach((rawLine, i) => {
    const where = `${fileName}:${i + 1}`;
    let line = rawLine.trim();
    let obsolete = false;
    if (line.startsWith('#~')) {
      obsolete = true;
      line = line.slice(2).trim();
    }
    if (line === '') {
      finish();
      return;
    }
    if (!obsolete && line.startsWith('#')) {
      if (entry && entry.msgid !== undefined) {
        finish();
      }
      const current = start();
      if (line.startsWith('#,')) {
        current.flags.push(
          ...line
            .slice(2)
            .split(',')
            .map(flag => flag.trim())
            .filter(Boolean)
        );
      } else if (line.startsWith('#:')) {
        current.refs.push(...line.slice(2).trim().split(/\s+/));
      } else {
        current.comments.push(rawLine);
      }
      return;
    }
    const keyword =
      /^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")$/.exec(line);
    if (keyword) {
      const [, name, index, value] = keyword;
      const fieldName = name.startsWith('msgstr') ? 'msgstr' : name;
      if (
        (fieldName === 'msgctxt' || fieldName === 'msgid') &&
        entry?.msgid !== undefined
      ) {
        finish();
      }
      const current = start();
      current.obsolete = current.obsolete || obsolete;
      field = [fieldName, index === undefined ? 0 : Number(index)];
      set(field[0], field[1], unquote(value, where));
      return;
    }
    if (line.startsWith('"') && field) {
      set(field[0], field[1], unquote(line, where));
      return;
    }
    throw new Error(`${where}: cannot read ${JSON.stringify(rawLine)}`);
  });
  finish();
  const headerEntry = entries.find(
    e => e.msgid === '' && e.msgctxt === undefined
  );
  const header = {};
  for (const line of (headerEntry?.msgstr[0] ?? '').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) {
      header[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
    }
  }
  return {
    header,
    headerEntry,
    entries: entries.filter(e => e !== headerEntry)
  };
}

/** Format entries back into .po text (used by `update`). */
function formatPo(po) {
  const lines = [];
  const write = (entry, prefix = '') => {
    for (const comment of entry.comments ?? []) {
      lines.push(comment);
    }
    if (entry.refs?.length && !entry.obsolete) {
      // Files only, not lines: a line number changes with every edit above a
      // string, and the catalog's diffs (and merges) would churn with it.
      const files = new Set(entry.refs.map(ref => ref.replace(/:\d+$/, '')));
      lines.push(`#: ${[...files].join(' ')}`);
    }
    if (entry.flags?.length) {
      lines.push(`#, ${entry.flags.join(', ')}`);
    }
    if (entry.msgctxt !== undefined) {
      lines.push(`${prefix}msgctxt ${quote(entry.msgctxt)}`);
    }
    if (entry.msgid === '') {
      lines.push(`${prefix}msgid ""`);
      lines.push(`${prefix}msgstr ""`);
      for (const part of entry.msgstr[0].split(/(?<=\n)/)) {
        lines.push(prefix + quote(part));
      }
    } else {
      lines.push(`${prefix}msgid ${quote(entry.msgid)}`);
      if (entry.msgid_plural !== undefined) {
        lines.push(`${prefix}msgid_plural ${quote(entry.msgid_plural)}`);
        const forms = Math.max(entry.msgstr.length, 2);
        for (let i = 0; i < forms; i++) {
          lines.push(`${prefix}msgstr[${i}] ${quote(entry.msgstr[i] ?? '')}`);
        }
      } else {
        lines.push(`${prefix}msgstr ${quote(entry.msgstr[0] ?? '')}`);
      }
    }
    lines.push('');
  };
  if (po.headerEntry) {
    write(po.headerEntry);
  }
  for (const entry of po.entries) {
    write(entry, entry.obsolete ? '#~ ' : '');
  }
  return lines.join('\n');
}

/** Whether an entry carries a usable translation (not fuzzy, obsolete or empty). */
function isTranslated(entry) {
  if (entry.obsolete || entry.flags.includes('fuzzy')) {
    return false;
  }
  const forms = entry.msgid_plural !== undefined ? 2 : 1;
  for (let i = 0; i < forms; i++) {
    if (!entry.msgstr[i]) {
      return false;
    }
  }
  return true;
}

/** The `%1`, `%2`… placeholders of a string, sorted. */
function placeholders(text) {
  return [...new Set(text.match(/%\d+/g) ?? [])].sort();
}

// --- check -------------------------------------------------------------------

/**
 * What is wrong with a catalog against the extracted strings: missing or
 * untranslated msgids, entries no source uses any more, translations that
 * drop or add `%N` placeholders, and source calls that cannot be extracted.
 */
function checkCatalog(po, extracted, fileName = '<po>') {
  const errors = [...extracted.problems];
  const byKey = new Map(
    po.entries.filter(e => !e.obsolete).map(e => [keyOf(e), e])
  );
  for (const message of extracted.messages) {
    const entry = byKey.get(keyOf(message));
    const label = JSON.stringify(message.msgid);
    if (!entry) {
      errors.push(`${fileName}: no entry for ${label} (${message.refs[0]})`);
      continue;
    }
    if (
      (entry.msgid_plural !== undefined) !==
      (message.msgid_plural !== undefined)
    ) {
      errors.push(
        `${fileName}: ${label} must${message.msgid_plural !== undefined ? '' : ' not'} have plural forms`
      );
      continue;
    }
    if (!isTranslated(entry)) {
      errors.push(
        `${fileName}: ${label} is not translated (${message.refs[0]})`
      );
      continue;
    }
    const all = placeholders(
      message.msgid + ' ' + (message.msgid_plural ?? '')
    );
    const wanted = all.join(' ');
    // The singular of a plural may leave out the count, %1 ("un elemento").
    const withoutCount = all.filter(p => p !== '%1').join(' ');
    entry.msgstr.forEach((translation, i) => {
      const got = placeholders(translation).join(' ');
      const singularOfPlural = message.msgid_plural !== undefined && i === 0;
      if (got !== wanted && !(singularOfPlural && got === withoutCount)) {
        errors.push(
          `${fileName}: ${label} translation ${i} has placeholders [${got}], the source [${wanted}]`
        );
      }
    });
  }
  const used = new Set(extracted.messages.map(keyOf));
  for (const entry of po.entries) {
    if (!entry.obsolete && !used.has(keyOf(entry))) {
      errors.push(
        `${fileName}: ${JSON.stringify(entry.msgid)} is not used in src/ any more (remove it or mark it #~)`
      );
    }
  }
  return errors;
}

// --- build -------------------------------------------------------------------

/**
 * The catalog as JupyterLab's translator reads it (what jupyterlab-translate
 * writes): a "" key with domain, language, plural_forms and version, then each
 * translated key to its list of forms.
 */
function toJupyterLabJson(po, { domain = DOMAIN, version }) {
  const language = (po.header.Language || '').replace('_', '-');
  const pluralForms =
    po.header['Plural-Forms'] || 'nplurals=2; plural=(n != 1);';
  if (!language) {
    throw new Error('the .po header has no Language');
  }
  const data = {
    '': {
      domain,
      language,
      plural_forms: pluralForms.replace(/;\s*$/, ';'),
      version
    }
  };
  for (const entry of po.entries) {
    if (isTranslated(entry)) {
      data[keyOf(entry)] =
        entry.msgid_plural !== undefined
          ? entry.msgstr.slice()
          : [entry.msgstr[0]];
    }
  }
  return data;
}

/** The catalog as a GNU .mo file (little-endian, no hash table). */
function toMo(po) {
  const pairs = [];
  if (po.headerEntry) {
    pairs.push(['', po.headerEntry.msgstr[0]]);
  }
  for (const entry of po.entries) {
    if (isTranslated(entry)) {
      const id =
        entry.msgid_plural !== undefined
          ? keyOf(entry) + '\0' + entry.msgid_plural
          : keyOf(entry);
      pairs.push([id, entry.msgstr.join('\0')]);
    }
  }
  const encoded = pairs
    .map(([id, str]) => [Buffer.from(id, 'utf-8'), Buffer.from(str, 'utf-8')])
    .sort((a, b) => Buffer.compare(a[0], b[0]));
  const count = encoded.length;
  const headerSize = 28;
  const idsTable = headerSize;
  const strsTable = idsTable + count * 8;
  let offset = strsTable + count * 8;
  const tables = Buffer.alloc(headerSize + count * 16);
  tables.writeUInt32LE(0x950412de, 0);
  tables.writeUInt32LE(0, 4);
  tables.writeUInt32LE(count, 8);
  tables.writeUInt32LE(idsTable, 12);
  tables.writeUInt32LE(strsTable, 16);
  tables.writeUInt32LE(0, 20);
  tables.writeUInt32LE(offset, 24);
  const blobs = [];
  for (const column of [0, 1]) {
    encoded.forEach((pair, i) => {
      const data = pair[column];
      const table = column === 0 ? idsTable : strsTable;
      tables.writeUInt32LE(data.length, table + i * 8);
      tables.writeUInt32LE(offset, table + i * 8 + 4);
      blobs.push(data, Buffer.from([0]));
      offset += data.length + 1;
    });
  }
  return Buffer.concat([tables, ...blobs]);
}

/** Every source catalog: `{ locale, poPath }`. */
function catalogs(localeDir = LOCALE_DIR) {
  if (!fs.existsSync(localeDir)) {
    return [];
  }
  return fs
    .readdirSync(localeDir)
    .sort()
    .map(locale => ({
      locale,
      poPath: path.join(localeDir, locale, 'LC_MESSAGES', `${DOMAIN}.po`)
    }))
    .filter(({ poPath }) => fs.existsSync(poPath));
}

function build() {
  const { version } = JSON.parse(
    fs.readFileSync(path.join(ROOT, 'package.json'), 'utf-8')
  );
  for (const { poPath } of catalogs()) {
    const po = parsePo(fs.readFileSync(poPath, 'utf-8'), poPath);
    const base = poPath.replace(/\.po$/, '');
    fs.writeFileSync(
      `${base}.json`,
      JSON.stringify(toJupyterLabJson(po, { version }), null, 2) + '\n'
    );
    fs.writeFileSync(`${base}.mo`, toMo(po));
    console.log(`i18n: built ${path.relative(ROOT, base)}.{json,mo}`);
  }
}

function clean() {
  for (const { poPath } of catalogs()) {
    for (const ext of ['.json', '.mo']) {
      fs.rmSync(poPath.replace(/\.po$/, ext), { force: true });
    }
  }
}

function check() {
  const extracted = extract();
  let errors = [];
  const found = catalogs();
  if (found.length === 0) {
    errors.push(`no catalogs under ${path.relative(ROOT, LOCALE_DIR)}`);
  }
  for (const { poPath } of found) {
    const relative = path.relative(ROOT, poPath);
    errors = errors.concat(
      checkCatalog(
        parsePo(fs.readFileSync(poPath, 'utf-8'), relative),
        extracted,
        relative
      )
    );
  }
  return errors;
}

function update() {
  const extracted = extract();
  for (const { poPath } of catalogs()) {
    const po = parsePo(fs.readFileSync(poPath, 'utf-8'), poPath);
    const byKey = new Map(po.entries.map(e => [keyOf(e), e]));
    let added = 0;
    for (const message of extracted.messages) {
      const entry = byKey.get(keyOf(message));
      if (entry) {
        entry.refs = message.refs;
        if (entry.obsolete) {
          entry.obsolete = false;
          entry.flags = [...new Set([...entry.flags, 'fuzzy'])];
        }
      } else {
        po.entries.push({
          ...message,
          msgstr: message.msgid_plural !== undefined ? ['', ''] : [''],
          flags: [],
          comments: [],
          obsolete: false
        });
        added++;
      }
    }
    const used = new Set(extracted.messages.map(keyOf));
    for (const entry of po.entries) {
      if (!used.has(keyOf(entry))) {
        entry.obsolete = true;
      }
    }
    fs.writeFileSync(poPath, formatPo(po));
    console.log(`i18n: ${path.relative(ROOT, poPath)}: ${added} new msgids`);
  }
}

module.exports = {
  CONTEXT_SEPARATOR,
  DOMAIN,
  LOCALE_DIR,
  catalogs,
  check,
  checkCatalog,
  extract,
  extractFromSource,
  formatPo,
  parsePo,
  toJupyterLabJson,
  toMo
};

if (require.main === module) {
  const command = process.argv[2];
  if (command === 'build') {
    build();
  } else if (command === 'clean') {
    clean();
  } else if (command === 'update') {
    update();
  } else if (command === 'check') {
    const errors = check();
    for (const error of errors) {
      console.error(error);
    }
    process.exit(errors.length ? 1 : 0);
  } else {
    console.error('usage: node scripts/i18n.js build|check|update|clean');
    process.exit(2);
  }
}
