// The translation catalogs (scripts/i18n.js): every string src/ sends through
// trans.__/_n/_p has a Spanish translation, and the built catalog is what
// JupyterLab's own translator reads.
import { Gettext } from '@jupyterlab/translation';
import * as fs from 'fs';
import * as path from 'path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const i18n = require('../../scripts/i18n');

const SPANISH = path.join(
  i18n.LOCALE_DIR,
  'es_ES',
  'LC_MESSAGES',
  `${i18n.DOMAIN}.po`
);

/** The catalog as the lab's TranslationManager hands it to Gettext. */
function bundle(po: string): Gettext {
  const data = i18n.toJupyterLabJson(i18n.parsePo(po), {
    version: '9.9.9-test'
  });
  const gettext = new Gettext({ domain: i18n.DOMAIN, locale: 'es_ES' });
  gettext.loadJSON(
    { ...data, '': { ...data[''], pluralForms: data[''].plural_forms } },
    i18n.DOMAIN
  );
  return gettext;
}

describe('translation catalogs', () => {
  it('translate every string of src/ into Spanish, with none left over', () => {
    expect(i18n.check()).toEqual([]);
    const extracted = i18n.extract();
    // The extractor sees the strings, not nothing: a few from each kind of owner.
    const ids = extracted.messages.map((m: any) => m.msgid);
    expect(ids).toEqual(
      expect.arrayContaining([
        'Sign in to CARTO', // trans.__
        'Paste CARTO access code', // this._trans / trans in dialogs
        'Nobody signed in to CARTO within %1 seconds. Click Sign in to CARTO, then run the cell again.' // this._options.trans.__
      ])
    );
    expect(
      extracted.messages.find((m: any) => m.msgid === '%1 kernel without CARTO')
        ?.msgid_plural
    ).toBe('%1 kernels without CARTO');
    expect(extracted.messages.length).toBeGreaterThan(100);
  });

  it('the built Spanish catalog translates in JupyterLab’s Gettext', () => {
    const trans = bundle(fs.readFileSync(SPANISH, 'utf-8'));
    expect(trans.__('Sign in to CARTO')).toBe('Iniciar sesión en CARTO');
    expect(trans.__('Revoke %1', 'a.ipynb')).toBe('Revocar a.ipynb');
    expect(
      trans._n('%1 kernel without CARTO', '%1 kernels without CARTO', 1)
    ).toBe('1 kernel sin CARTO');
    expect(
      trans._n('%1 kernel without CARTO', '%1 kernels without CARTO', 3)
    ).toBe('3 kernels sin CARTO');
    // Strings the catalog does not have stay English.
    expect(trans.__('Not in the catalog')).toBe('Not in the catalog');
  });

  it('extracts __, _n, _p and _np on trans owners, and refuses non-literals', () => {
    const source = `
      trans.__('one');
      this._trans._n('%1 file', '%1 files', n);
      this._options.trans._p('menu', 'Open');
      trans._np('menu', '%1 tab', '%1 tabs', n);
      other.__('not a translation bundle');
      trans.__(\`template\`);
      trans.__(message);
      trans._n('%1 cell', plural, n);
    `;
    const { messages, problems } = i18n.extractFromSource(source, 'x.ts');
    expect(
      messages.map((m: any) => [m.msgctxt, m.msgid, m.msgid_plural])
    ).toEqual([
      [undefined, 'one', undefined],
      [undefined, '%1 file', '%1 files'],
      ['menu', 'Open', undefined],
      ['menu', '%1 tab', '%1 tabs'],
      [undefined, 'template', undefined]
    ]);
    expect(problems).toEqual([
      'x.ts:8: trans.__(...) needs literal strings to be translated',
      'x.ts:9: trans._n(...) needs literal strings to be translated'
    ]);
  });

  it('reports missing, untranslated, fuzzy, stale and placeholder-losing entries', () => {
    const po = `
msgid ""
msgstr ""
"Language: es_ES\\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\\n"

msgid "Kept %1"
msgstr "Guardado %1"

msgid "Lost %1"
msgstr "Perdido"

msgid "Empty"
msgstr ""

#, fuzzy
msgid "Fuzzy"
msgstr "Difuso"

msgid "%1 item"
msgid_plural "%1 items"
msgstr[0] "un elemento"
msgstr[1] "%1 elementos"

msgid "Gone"
msgstr "Ido"

#~ msgid "Obsolete"
#~ msgstr "Obsoleto"
`;
    const extracted = i18n.extractFromSource(
      `trans.__('Kept %1', a); trans.__('Lost %1', a); trans.__('Empty');
       trans.__('Fuzzy'); trans._n('%1 item', '%1 items', n); trans.__('New');`,
      'y.ts'
    );
    expect(i18n.checkCatalog(i18n.parsePo(po), extracted, 'es.po')).toEqual([
      'es.po: "Lost %1" translation 0 has placeholders [], the source [%1]',
      'es.po: "Empty" is not translated (y.ts:1)',
      'es.po: "Fuzzy" is not translated (y.ts:2)',
      'es.po: no entry for "New" (y.ts:2)',
      'es.po: "Gone" is not used in src/ any more (remove it or mark it #~)'
    ]);
    // The singular of a plural may drop the count ("un elemento").
    const trans = bundle(po);
    expect(trans._n('%1 item', '%1 items', 1)).toBe('un elemento');
    expect(trans.__('Fuzzy')).toBe('Fuzzy');
  });

  it('writes a .mo with the header first and the ids sorted', () => {
    const po = i18n.parsePo(
      'msgid ""\nmsgstr "Language: es_ES\\n"\n\nmsgid "b"\nmsgstr "B"\n\nmsgctxt "c"\nmsgid "a"\nmsgstr "A"\n'
    );
    const mo: Buffer = i18n.toMo(po);
    expect(mo.readUInt32LE(0)).toBe(0x950412de);
    expect(mo.readUInt32LE(8)).toBe(3);
    const ids = [0, 1, 2].map(i => {
      const length = mo.readUInt32LE(28 + i * 8);
      const offset = mo.readUInt32LE(28 + i * 8 + 4);
      return mo.subarray(offset, offset + length).toString('utf-8');
    });
    expect(ids).toEqual(['', 'b', `c${i18n.CONTEXT_SEPARATOR}a`]);
  });
});
