// What the user is told when the CARTO sign-in settings cannot be used as
// written: a malformed URL, a value of the wrong type, an unknown key.
//
// The settings editor refuses such a value before it is saved (the setting
// registry validates it against schema/session.json). What it cannot refuse
// is a settings file edited by hand or by code, or an administrator's
// defaults (overrides.json): the Jupyter server then drops the whole user
// file with a warning in its answer that JupyterLab shows nowhere, and a
// default of the wrong type makes the registry refuse to load the plugin at
// all. Both are said here, naming the setting and what to do.
import {
  ISchemaValidator,
  ISettingRegistry
} from '@jupyterlab/settingregistry';
import { nullTranslator, TranslationBundle } from '@jupyterlab/translation';

import { SESSION_SETTING_KEYS } from './settingscheck';

export {
  hasUnknownDefaults,
  SESSION_SETTING_KEYS,
  settingsFileWarning
} from './settingscheck';

/** One thing JSON schema found wrong in the settings. */
export interface ISettingProblem {
  /** The setting, or null when the problem is not one setting's (a file that is not JSON). */
  readonly key: string | null;
  /** The JSON schema keyword that failed: pattern, type, enum, additionalProperties, … */
  readonly keyword: string;
}

/**
 * The problem in the Jupyter server's warning about a user settings file
 * (jupyterlab_server validates it with Python's jsonschema and sends its text).
 */
export function problemOfServerWarning(warning: string): ISettingProblem {
  if (warning.startsWith('Failed loading settings')) {
    return { key: null, keyword: 'parse' };
  }
  const failed =
    /Failed validating '(\w+)' in schema(?:\['properties'\]\['([^']+)'\])?/.exec(
      warning
    );
  const keyword = failed?.[1] ?? 'unknown';
  if (keyword === 'additionalProperties') {
    const unexpected =
      /\('([^']+)'(?:, '[^']+')* (?:was|were) unexpected\)/.exec(warning);
    return { key: unexpected?.[1] ?? null, keyword };
  }
  return { key: failed?.[2] ?? null, keyword };
}

/** The first problem of the setting registry's (ajv's) errors, or of what it threw. */
export function problemOfRegistryErrors(errors: unknown): ISettingProblem {
  const first = (Array.isArray(errors) ? errors[0] : undefined) as
    | (ISchemaValidator.IError & { params?: Record<string, unknown> })
    | undefined;
  if (!first) {
    return { key: null, keyword: 'unknown' };
  }
  if (first.keyword === 'additionalProperties') {
    const key = first.params?.additionalProperty;
    return {
      key: typeof key === 'string' ? key : null,
      keyword: String(first.keyword)
    };
  }
  const key = /^\/([^/]+)/.exec(first.instancePath ?? '')?.[1] ?? null;
  return { key, keyword: String(first.keyword) };
}

/** What is wrong, in words, with the setting's title from `schema` when it has one. */
export function problemText(
  problem: ISettingProblem,
  schema: ISettingRegistry.ISchema | null,
  trans: TranslationBundle = nullTranslator.load('jupyterlab_carto_auth')
): string {
  const { key, keyword } = problem;
  if (keyword === 'syntax' || keyword === 'parse') {
    return trans.__('the settings file is not valid JSON');
  }
  if (key === null) {
    return trans.__('the settings do not match their schema');
  }
  if (keyword === 'additionalProperties') {
    return trans.__(
      '"%1" is not a CARTO sign-in setting (check its spelling)',
      key
    );
  }
  const property = schema?.properties?.[key] as
    ISettingRegistry.IProperty | undefined;
  const name = property?.title ? `"${property.title}" (${key})` : `"${key}"`;
  switch (keyword) {
    case 'pattern':
      return trans.__(
        '%1 is not an https address (plain http only to localhost)',
        name
      );
    case 'type':
      return trans.__('%1 must be %2', name, typeText(property?.type, trans));
    case 'enum':
      return trans.__(
        '%1 must be one of %2',
        name,
        ((property?.enum as unknown[]) ?? []).map(v => `"${v}"`).join(', ')
      );
    case 'minimum':
    case 'maximum':
      return trans.__(
        '%1 must be from %2 to %3',
        name,
        String(property?.minimum ?? '…'),
        String(property?.maximum ?? '…')
      );
    default:
      return trans.__('%1 does not match its schema', name);
  }
}

function typeText(type: unknown, trans: TranslationBundle): string {
  switch (type) {
    case 'string':
      return trans.__('text in double quotes');
    case 'boolean':
      return trans.__('true or false');
    case 'integer':
      return trans.__('a whole number');
    default:
      return trans.__('of the type its description says');
  }
}

/** The message for a user settings file the server ignored. */
export function ignoredFileMessage(
  warning: string,
  schema: ISettingRegistry.ISchema | null,
  trans: TranslationBundle = nullTranslator.load('jupyterlab_carto_auth')
): string {
  return trans.__(
    'Your CARTO sign-in settings are ignored: %1. Until you fix it in Settings → Settings Editor → CARTO sign-in (JSON Settings Editor), every CARTO setting has its default value.',
    problemText(problemOfServerWarning(warning), schema, trans)
  );
}

/**
 * The message for settings the registry refused to load: what it threw (the
 * schema's errors), else the server's `warning` (a file that is not JSON).
 */
export function refusedSettingsMessage(
  errors: unknown,
  schema: ISettingRegistry.ISchema | null,
  trans: TranslationBundle = nullTranslator.load('jupyterlab_carto_auth'),
  warning: string | null = null
): string {
  const problem =
    !Array.isArray(errors) && warning
      ? problemOfServerWarning(warning)
      : problemOfRegistryErrors(errors);
  return trans.__(
    'CARTO sign-in could not start, its settings are not valid: %1. Fix the jupyterlab-carto-auth:session defaults your administrator set (overrides.json), or your settings in Settings → Settings Editor → CARTO sign-in, then reload the page.',
    problemText(problem, schema, trans)
  );
}

/** The message for each default of a key the schema does not have. */
export function unknownDefaultMessages(
  schema: ISettingRegistry.ISchema,
  trans: TranslationBundle = nullTranslator.load('jupyterlab_carto_auth')
): string[] {
  const known = new Set<string>(SESSION_SETTING_KEYS);
  return Object.keys(schema.properties ?? {})
    .filter(key => !known.has(key))
    .map(key =>
      trans.__(
        'The default of "%1" your administrator set (overrides.json) is ignored: CARTO sign-in has no such setting (check its spelling).',
        key
      )
    );
}

/**
 * What is wrong with the session settings that the settings editor cannot
 * show: a user file the server ignored (`warning`), and unknown defaults.
 */
export function settingsProblems(
  warning: string | null,
  schema: ISettingRegistry.ISchema,
  trans: TranslationBundle = nullTranslator.load('jupyterlab_carto_auth')
): string[] {
  const messages = unknownDefaultMessages(schema, trans);
  if (warning) {
    messages.unshift(ignoredFileMessage(warning, schema, trans));
  }
  return messages;
}
