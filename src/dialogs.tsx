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
import { ICartoProfiles, IProfile, ProfileNameError } from './profiles';
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

/** What the account panel does with the profiles. */
export interface IAccountProfiles {
  readonly profiles: ICartoProfiles;
  /** Sign in to another account (with SSO: `addSso`). */
  add(): void;
  addSso(): void;
  /** Sign one profile out. */
  signOut(slot: string): void;
  /** Sign a profile in again (its session ended). */
  signIn(slot: string): void;
}

/** The rows of the account table of one session. */
function accountRows(
  info: ICartoSessionInfo,
  trans: TranslationBundle
): [string, string][] {
  return [
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
}

function AccountTable(props: {
  info: ICartoSessionInfo;
  trans: TranslationBundle;
}): JSX.Element {
  const { info, trans } = props;
  return (
    <>
      <table>
        <tbody>
          {accountRows(info, trans).map(([key, value]) => (
            <tr key={key}>
              <th scope="row">{key}</th>
              <td>{value}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {info.error && <p className="jp-CartoAuth-error">{info.error}</p>}
    </>
  );
}

/**
 * The account panel: who, org, API base URL, expiry, the notebooks allowed;
 * with several profiles, each of them (rename, make default, sign out);
 * offers another account and sign-out (of all, with several profiles).
 */
export async function showAccount(
  info: ICartoSessionInfo,
  trans: TranslationBundle,
  notOwner: string | null = null,
  access: KernelAccess | null = null,
  profiles: IAccountProfiles | null = null
): Promise<boolean> {
  const isSeveral = () => (profiles?.profiles.profiles.length ?? 1) > 1;
  // JupyterLab shows one dialog at a time: the panel closes before the
  // sign-in of another account opens its own (SSO) dialog.
  let close = () => undefined as void;
  const panel: IAccountProfiles | null = profiles && {
    profiles: profiles.profiles,
    add: () => {
      close();
      profiles.add();
    },
    addSso: () => {
      close();
      profiles.addSso();
    },
    signOut: slot => profiles.signOut(slot),
    signIn: slot => {
      close();
      profiles.signIn(slot);
    }
  };
  const body = (
    <div className="jp-CartoAuth-account">
      {panel ? (
        <UseSignal signal={panel.profiles.changed}>
          {() => (
            <ProfileList
              panel={panel}
              trans={trans}
              info={panel.profiles.defaultProfile.session.info}
            />
          )}
        </UseSignal>
      ) : (
        <AccountTable info={info} trans={trans} />
      )}
      {notOwner && <p className="jp-CartoAuth-notOwner">{notOwner}</p>}
      {access && (
        <AccessList
          access={access}
          trans={trans}
          profiles={profiles?.profiles ?? null}
        />
      )}
    </div>
  );
  const title = profiles ? (
    <UseSignal signal={profiles.profiles.changed}>
      {() =>
        isSeveral() ? trans.__('CARTO accounts') : trans.__('CARTO account')
      }
    </UseSignal>
  ) : (
    trans.__('CARTO account')
  );
  const dialog = new Dialog({
    title,
    body,
    buttons: [
      Dialog.cancelButton({ label: trans.__('Close') }),
      Dialog.warnButton({
        label: isSeveral() ? trans.__('Sign out of all') : trans.__('Sign out')
      })
    ],
    // Enter must not sign out by accident.
    defaultButton: 0
  });
  close = () => dialog.reject();
  // The sign-out button says whom it signs out as profiles come and go.
  const relabel = () => {
    const label = isSeveral()
      ? trans.__('Sign out of all')
      : trans.__('Sign out');
    const button = dialog.node.querySelector('.jp-Dialog-button.jp-mod-warn');
    const text = button?.querySelector('.jp-Dialog-buttonLabel');
    if (button && text && text.textContent !== label) {
      text.textContent = label;
      text.setAttribute('aria-label', label);
    }
  };
  profiles?.profiles.changed.connect(relabel);
  const result = await dialog.launch();
  profiles?.profiles.changed.disconnect(relabel);
  dialog.dispose();
  return result.button.accept;
}

/** The profiles: one looks as before profiles; several are listed each with its actions. */
function ProfileList(props: {
  panel: IAccountProfiles;
  trans: TranslationBundle;
  info: ICartoSessionInfo;
}): JSX.Element {
  const { panel, trans } = props;
  const all = panel.profiles.profiles;
  const anySignedIn = all.some(p => p.session.info.status === 'signed-in');
  const addButtons = anySignedIn && (
    <p className="jp-CartoAuth-addProfile">
      <button className="jp-mod-styled" onClick={() => panel.add()}>
        {trans.__('Sign in to another CARTO account…')}
      </button>{' '}
      <button className="jp-mod-styled" onClick={() => panel.addSso()}>
        {trans.__('…with SSO organization')}
      </button>
    </p>
  );
  if (all.length <= 1) {
    return (
      <>
        <AccountTable info={props.info} trans={trans} />
        {addButtons}
      </>
    );
  }
  return (
    <>
      <ul
        className="jp-CartoAuth-profiles"
        aria-label={trans.__('CARTO profiles')}
      >
        {all.map(profile => (
          <ProfileItem
            key={profile.slot}
            profile={profile}
            panel={panel}
            trans={trans}
          />
        ))}
      </ul>
      {addButtons}
    </>
  );
}

/** One profile in the account panel. */
function ProfileItem(props: {
  profile: IProfile;
  panel: IAccountProfiles;
  trans: TranslationBundle;
}): JSX.Element {
  const { profile, panel, trans } = props;
  const [editing, setEditing] = React.useState(false);
  const [name, setName] = React.useState(profile.name);
  const [error, setError] = React.useState<string | null>(null);
  const errorId = `jp-CartoAuth-rename-error-${profile.slot || 'default'}`;
  const input = React.useRef<HTMLInputElement>(null);
  const cancel = () => {
    setEditing(false);
    setName(profile.name);
    setError(null);
  };
  const save = () => {
    try {
      panel.profiles.rename(profile.slot, name);
      setEditing(false);
      setError(null);
    } catch (e) {
      setError(
        e instanceof ProfileNameError
          ? e.message
          : String((e as Error)?.message ?? e)
      );
    }
  };
  // Enter saves and Escape cancels the rename; the dialog, which would take
  // both (close the panel), sees them first on its node: catch them before,
  // on the document.
  const keys = React.useRef({ save, cancel });
  keys.current = { save, cancel };
  React.useEffect(() => {
    if (!editing) {
      return;
    }
    const onKey = (event: KeyboardEvent) => {
      if (
        event.target !== input.current ||
        (event.key !== 'Enter' && event.key !== 'Escape')
      ) {
        return;
      }
      event.preventDefault();
      event.stopPropagation();
      if (event.key === 'Enter') {
        keys.current.save();
      } else {
        keys.current.cancel();
      }
    };
    document.addEventListener('keydown', onKey, true);
    return () => document.removeEventListener('keydown', onKey, true);
  }, [editing]);
  return (
    <li className="jp-CartoAuth-profile" data-profile={profile.name}>
      <h3>
        {editing ? (
          <input
            className="jp-mod-styled jp-CartoAuth-input"
            aria-label={trans.__('New name of %1', profile.name)}
            aria-invalid={error ? 'true' : undefined}
            aria-describedby={error ? errorId : undefined}
            ref={input}
            value={name}
            maxLength={128}
            autoFocus
            onChange={event => setName(event.target.value)}
          />
        ) : (
          <span className="jp-CartoAuth-profileName">{profile.name}</span>
        )}
        {profile.isDefault && (
          <span className="jp-CartoAuth-defaultTag">
            {' '}
            {trans.__('(default)')}
          </span>
        )}
      </h3>
      {error && (
        <p id={errorId} className="jp-CartoAuth-error" role="alert">
          {error}
        </p>
      )}
      <AccountTable info={profile.session.info} trans={trans} />
      <p className="jp-CartoAuth-profileActions">
        {editing ? (
          <button className="jp-mod-styled jp-mod-accept" onClick={save}>
            {trans.__('Save name')}
          </button>
        ) : (
          <button
            className="jp-mod-styled"
            aria-label={trans.__('Rename %1', profile.name)}
            onClick={() => setEditing(true)}
          >
            {trans.__('Rename')}
          </button>
        )}{' '}
        {profile.session.info.status !== 'signed-in' && (
          <button
            className="jp-mod-styled jp-mod-accept"
            aria-label={trans.__('Sign in again to %1', profile.name)}
            onClick={() => panel.signIn(profile.slot)}
          >
            {trans.__('Sign in again')}
          </button>
        )}{' '}
        {!profile.isDefault && (
          <button
            className="jp-mod-styled"
            aria-label={trans.__('Make %1 the default', profile.name)}
            onClick={() => panel.profiles.setDefault(profile.slot)}
          >
            {trans.__('Make default')}
          </button>
        )}{' '}
        <button
          className="jp-mod-styled jp-mod-warn"
          aria-label={trans.__('Sign out of %1', profile.name)}
          onClick={() => panel.signOut(profile.slot)}
        >
          {trans.__('Sign out of this account')}
        </button>
      </p>
    </li>
  );
}

/** The notebooks allowed (each with Revoke) and recently denied (with Allow). */
function AccessList(props: {
  access: KernelAccess;
  trans: TranslationBundle;
  profiles?: ICartoProfiles | null;
}): JSX.Element {
  const { access, trans, profiles } = props;
  const several = (profiles?.profiles.length ?? 1) > 1;
  /** A grant's path, with its profile's name when there are several. */
  const labelOf = (path: string, slot: string | undefined) => {
    const name = profiles?.get(slot ?? '')?.name;
    return several && name ? `${path} · ${name}` : path;
  };
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
                <li
                  key={`${grant.profile ?? ''}\n${grant.path}`}
                  className="jp-CartoAuth-grant"
                >
                  <span className="jp-CartoAuth-grantPath">
                    {labelOf(grant.path, grant.profile)}
                  </span>{' '}
                  <button
                    className="jp-mod-styled jp-mod-warn"
                    aria-label={trans.__(
                      'Revoke %1',
                      labelOf(grant.path, grant.profile)
                    )}
                    onClick={() => access.revoke(grant.path, grant.profile)}
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
