// Dialogs: the access-code paste dialog (a Dialog.IBodyWidget with getValue,
// keyboard operable and labelled), the account panel with the notebooks
// allowed to use the session, and the grant prompts.
import { Dialog, showDialog, UseSignal } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import {
  AccessAnswer,
  IAccessPrompt,
  IAccessRequest,
  KernelAccess
} from './access';
import { IPastePrompt } from './paste';
import { timeLeft } from './timeleft';
import { ICartoSessionInfo } from './tokens';
import '../style/dialogs.css';

/**
 * Body of the paste dialog. Plain DOM, built in the constructor: the dialog
 * looks up its first focusable element (where Tab wraps to from the last
 * button) when it is attached, before a React body would have rendered.
 */
export class PasteCodeBody
  extends Widget
  implements Dialog.IBodyWidget<string>
{
  constructor(
    private _prompt: IPastePrompt,
    private _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-CartoAuth-paste');
    this._input = this._build();
  }

  getValue(): string {
    return this._input.value;
  }

  private _build(): HTMLInputElement {
    const trans = this._trans;
    const { authorizeUrl, tabBlocked, error, value } = this._prompt;
    const element = <K extends keyof HTMLElementTagNameMap>(
      tag: K,
      props: Partial<HTMLElementTagNameMap[K]> = {},
      text?: string
    ): HTMLElementTagNameMap[K] => {
      const el = Object.assign(document.createElement(tag), props);
      if (text !== undefined) {
        el.textContent = text;
      }
      return el;
    };
    const intro = element(
      'p',
      {},
      (tabBlocked
        ? trans.__(
            'Open the CARTO sign-in page, sign in, and copy the access code it shows:'
          )
        : trans.__(
            'A CARTO sign-in page opened in a new tab. Sign in there, copy the access code it shows, and paste it here.'
          )) + ' '
    );
    intro.appendChild(
      element(
        'a',
        {
          href: authorizeUrl,
          target: '_blank',
          rel: 'noopener noreferrer',
          className: 'jp-CartoAuth-link'
        },
        tabBlocked
          ? trans.__('Open the CARTO sign-in page')
          : trans.__('Open it again')
      )
    );
    const label = element(
      'label',
      { className: 'jp-CartoAuth-label', htmlFor: INPUT_ID },
      trans.__('Access code')
    );
    const input = element('input', {
      id: INPUT_ID,
      className: 'jp-mod-styled jp-CartoAuth-input',
      type: 'password',
      autocomplete: 'off',
      spellcheck: false,
      value,
      placeholder: trans.__('Paste the code or the full page address')
    });
    this.node.append(intro, label, input);
    if (error) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', ERROR_ID);
      const message = element(
        'p',
        { id: ERROR_ID, className: 'jp-CartoAuth-error' },
        error
      );
      message.setAttribute('role', 'alert');
      this.node.appendChild(message);
    }
    return input;
  }

  private _input: HTMLInputElement;
}

const INPUT_ID = 'jp-CartoAuth-code';
const ERROR_ID = 'jp-CartoAuth-code-error';

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

/** The account panel: who, org, API base URL, expiry, the notebooks allowed; offers sign-out. */
export async function showAccount(
  info: ICartoSessionInfo,
  trans: TranslationBundle,
  notOwner: string | null = null,
  access: KernelAccess | null = null
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
      {access && <AccessList access={access} trans={trans} />}
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

/** The notebooks allowed (each with Revoke) and recently denied (with Allow). */
function AccessList(props: {
  access: KernelAccess;
  trans: TranslationBundle;
}): JSX.Element {
  const { access, trans } = props;
  return (
    <UseSignal signal={access.changed}>
      {() => (
        <section
          className="jp-CartoAuth-grants"
          aria-label={trans.__('Notebooks allowed to use CARTO')}
        >
          <h3>{trans.__('Notebooks allowed to use this account')}</h3>
          {access.mode === 'all' ? (
            <p>
              {trans.__(
                'Every kernel may use your CARTO account (setting kernelAccess: all).'
              )}
            </p>
          ) : access.grants.length === 0 ? (
            <p>{trans.__('None yet: a notebook asks the first time.')}</p>
          ) : (
            <ul>
              {access.grants.map(grant => (
                <li key={grant.path} className="jp-CartoAuth-grant">
                  <span className="jp-CartoAuth-grantPath">{grant.path}</span>{' '}
                  <button
                    className="jp-mod-styled jp-mod-warn"
                    aria-label={trans.__('Revoke %1', grant.path)}
                    onClick={() => access.revoke(grant.path)}
                  >
                    {trans.__('Revoke')}
                  </button>
                </li>
              ))}
            </ul>
          )}
          {access.denied.length > 0 && (
            <>
              <h3>{trans.__('Denied recently')}</h3>
              <ul>
                {access.denied.map(path => (
                  <li key={path} className="jp-CartoAuth-denied">
                    <span className="jp-CartoAuth-grantPath">{path}</span>{' '}
                    <button
                      className="jp-mod-styled jp-mod-accept"
                      aria-label={trans.__('Allow %1', path)}
                      onClick={() => access.grant(path)}
                    >
                      {trans.__('Allow')}
                    </button>
                  </li>
                ))}
              </ul>
            </>
          )}
        </section>
      )}
    </UseSignal>
  );
}

/**
 * Ask whether a notebook may use the session. Signed out, the same dialog
 * signs in: its accept button reads "Sign in and allow". Enter and Escape
 * deny; only a click or keyboard activation of Allow allows.
 */
export function askAccess(
  request: IAccessRequest,
  info: ICartoSessionInfo,
  trans: TranslationBundle
): IAccessPrompt {
  const signedIn = info.status === 'signed-in' && info.user !== null;
  const org = signedIn ? info.user!.org : (request.org ?? null);
  const account = signedIn
    ? org
      ? trans.__('your CARTO account %1 (%2)', info.user!.email, org)
      : trans.__('your CARTO account %1 (no organization)', info.user!.email)
    : org
      ? trans.__('your CARTO account (%1)', org)
      : trans.__('your CARTO account');
  const body = (
    <div className="jp-CartoAuth-access">
      <p>{trans.__('Allow %1 to use %2?', request.label, account)}</p>
      {request.label !== request.path && (
        <p className="jp-CartoAuth-grantPath">{request.path}</p>
      )}
      <p>
        {trans.__(
          'Code in its kernel gets your CARTO access token and can do anything you can do in CARTO. Allow only notebooks you trust. You can revoke it in CARTO Account.'
        )}
      </p>
      {!signedIn && (
        <p>
          {trans.__(
            'You are not signed in to CARTO: Sign in and allow signs you in first.'
          )}
        </p>
      )}
    </div>
  );
  let closed = false;
  const dialog = new Dialog({
    title: trans.__('Allow access to your CARTO account?'),
    body,
    buttons: [
      Dialog.cancelButton({ label: trans.__('Deny') }),
      Dialog.okButton({
        label: signedIn ? trans.__('Allow') : trans.__('Sign in and allow')
      })
    ],
    defaultButton: 0,
    hasClose: false
  });
  dialog.addClass('jp-CartoAuth-accessDialog');
  const answer = dialog.launch().then((result): AccessAnswer => {
    dialog.dispose();
    if (closed) {
      return 'dismissed';
    }
    return result.button.accept ? 'allow' : 'deny';
  });
  return {
    answer,
    close: () => {
      closed = true;
      dialog.reject();
    }
  };
}

/**
 * Confirm `kernelAccess: all` the first time this browser sees it: kernel
 * code can write the settings, so the setting alone does not open the gate.
 */
export async function confirmAllKernels(
  trans: TranslationBundle
): Promise<boolean> {
  const result = await showDialog({
    title: trans.__('Let every kernel use your CARTO account?'),
    body: trans.__(
      'The kernelAccess setting is all: every notebook and console kernel would get your CARTO access token without asking. Kernel code can change settings too, so confirm only if you set it yourself.'
    ),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Keep asking') }),
      Dialog.warnButton({ label: trans.__('Allow every kernel') })
    ],
    defaultButton: 0
  });
  return result.button.accept;
}
