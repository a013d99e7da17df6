// Dialogs: the access-code paste dialog (a Dialog.IBodyWidget with getValue,
// keyboard operable and labelled) and the account panel.
import { Dialog, ReactWidget, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { IPastePrompt } from './paste';
import { timeLeft } from './timeleft';
import { ICartoSessionInfo } from './tokens';

/**
 * Body of the paste dialog.
 */
export class PasteCodeBody
  extends ReactWidget
  implements Dialog.IBodyWidget<string>
{
  constructor(
    private _prompt: IPastePrompt,
    private _trans: TranslationBundle
  ) {
    super();
    this._value = _prompt.value;
    this.addClass('jp-CartoAuth-paste');
  }

  getValue(): string {
    return this._value;
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    // Focus the field so the user can paste at once.
    requestAnimationFrame(() =>
      this.node.querySelector<HTMLInputElement>('input')?.focus()
    );
  }

  render(): JSX.Element {
    const trans = this._trans;
    const { authorizeUrl, tabBlocked, error } = this._prompt;
    return (
      <div>
        <p>
          {tabBlocked
            ? trans.__(
                'Open the CARTO sign-in page, sign in, and copy the access code it shows:'
              )
            : trans.__(
                'A CARTO sign-in page opened in a new tab. Sign in there, copy the access code it shows, and paste it here.'
              )}{' '}
          <a
            href={authorizeUrl}
            target="_blank"
            rel="noopener noreferrer"
            className="jp-CartoAuth-link"
          >
            {tabBlocked
              ? trans.__('Open the CARTO sign-in page')
              : trans.__('Open it again')}
          </a>
        </p>
        <label className="jp-CartoAuth-label" htmlFor="jp-CartoAuth-code">
          {trans.__('Access code')}
        </label>
        <input
          id="jp-CartoAuth-code"
          className="jp-mod-styled jp-CartoAuth-input"
          type="password"
          autoComplete="off"
          spellCheck={false}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'jp-CartoAuth-code-error' : undefined}
          defaultValue={this._value}
          placeholder={trans.__('Paste the code or the full page address')}
          onChange={event => {
            this._value = event.target.value;
          }}
        />
        {error && (
          <p
            id="jp-CartoAuth-code-error"
            className="jp-CartoAuth-error"
            role="alert"
          >
            {error}
          </p>
        )}
      </div>
    );
  }

  private _value: string;
}

/** Show the paste dialog; the pasted text, or null when cancelled. */
export async function askForCode(
  prompt: IPastePrompt,
  trans: TranslationBundle
): Promise<string | null> {
  const result = await showDialog({
    title: trans.__('Paste CARTO access code'),
    body: new PasteCodeBody(prompt, trans),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.okButton({ label: trans.__('Sign in') })
    ],
    focusNodeSelector: 'input'
  });
  return result.button.accept ? (result.value ?? '') : null;
}

/** The account panel: who, org, API base URL, expiry; offers sign-out. */
export async function showAccount(
  info: ICartoSessionInfo,
  trans: TranslationBundle,
  notOwner: string | null = null
): Promise<boolean> {
  const rows: [string, string][] = [
    [
      trans.__('User'),
      info.user ? `${info.user.name} <${info.user.email}>` : '—'
    ],
    [trans.__('Organization'), info.user?.org ?? '—'],
    [trans.__('Region'), info.region ?? '—'],
    [trans.__('API base URL'), info.apiBaseUrl ?? '—'],
    [
      trans.__('Access token expires'),
      info.expiresAt
        ? `${new Date(info.expiresAt).toLocaleString()} (${timeLeft(info.expiresAt, trans)})`
        : '—'
    ],
    [
      trans.__('Renewal'),
      info.canRefresh
        ? trans.__('automatic')
        : trans.__('sign in again before expiry')
    ]
  ];
  const body = (
    <div className="jp-CartoAuth-account">
      <table>
        <tbody>
          {rows.map(([key, value]) => (
            <tr key={key}>
              <th scope="row">{key}</th>
              <td>{value}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {info.error && <p className="jp-CartoAuth-error">{info.error}</p>}
      {notOwner && <p className="jp-CartoAuth-notOwner">{notOwner}</p>}
    </div>
  );
  const result = await showDialog({
    title: trans.__('CARTO account'),
    body,
    buttons: [
      Dialog.cancelButton({ label: trans.__('Close') }),
      Dialog.warnButton({ label: trans.__('Sign out') })
    ],
    // Enter must not sign out by accident.
    defaultButton: 0
  });
  return result.button.accept;
}
