// The CARTO status bar item: signed out, signing in (with cancel), signed in
// as `<email> · <org> · <region>` with time left, or the last error.
import { ReactWidget, UseSignal } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { cartoIcon } from './icons';
import { timeLeft } from './timeleft';
import { ICartoKernels, ICartoSession, ICartoSessionInfo } from './tokens';

/** Actions of the status item. */
export interface IStatusActions {
  signIn(): void;
  cancel(): void;
  showAccount(): void;
}

/**
 * The status item. Re-renders on session changes and on a clock tick, so the
 * time left stays current.
 */
export class CartoStatus extends ReactWidget {
  constructor(
    private _session: ICartoSession,
    private _actions: IStatusActions,
    private _trans: TranslationBundle,
    private _kernels: ICartoKernels | null = null,
    /** Why kernels do not get this lab's session (another user's server), or null. */
    private _notOwner: string | null = null
  ) {
    super();
    this.addClass('jp-CartoAuth-status');
    _kernels?.problemsChanged.connect(() => this.update());
    this._tick = window.setInterval(() => this.update(), 15000);
  }

  dispose(): void {
    window.clearInterval(this._tick);
    super.dispose();
  }

  render(): JSX.Element {
    return (
      <UseSignal
        signal={this._session.changed}
        initialArgs={this._session.info}
      >
        {(_, info) => this._renderInfo(info ?? this._session.info)}
      </UseSignal>
    );
  }

  private _renderInfo(info: ICartoSessionInfo): JSX.Element {
    const trans = this._trans;
    let label: string;
    let title: string;
    let onClick: () => void;
    switch (info.status) {
      case 'signed-in': {
        const parts = [info.user?.email || trans.__('signed in')];
        if (info.user?.org) {
          parts.push(info.user.org);
        }
        if (info.region) {
          parts.push(info.region);
        }
        if (info.expiresAt) {
          parts.push(timeLeft(info.expiresAt, trans));
        }
        label = parts.join(' · ');
        title =
          info.error ??
          trans.__('Signed in to CARTO. Click for account details.');
        onClick = () => this._actions.showAccount();
        break;
      }
      case 'signing-in':
        label = trans.__('Signing in to CARTO… (click to cancel)');
        title = trans.__('Cancel the CARTO sign-in');
        onClick = () => this._actions.cancel();
        break;
      case 'error':
        label = trans.__('CARTO: sign-in failed');
        title = info.error ?? '';
        onClick = () => this._actions.signIn();
        break;
      default:
        label = trans.__('Sign in to CARTO');
        // Why the session ended (e.g. it expired), when the lab knows.
        title = [trans.__('Sign in to CARTO'), info.error]
          .filter(Boolean)
          .join('\n');
        onClick = () => this._actions.signIn();
    }
    const problems = this._kernels?.problems ?? [];
    if (this._notOwner) {
      label += ' · ' + trans.__('not shared with kernels');
      title = [this._notOwner, title].filter(Boolean).join('\n');
    } else if (problems.length) {
      label +=
        ' · ' +
        trans._n(
          '%1 kernel without CARTO',
          '%1 kernels without CARTO',
          problems.length
        );
      title = [title, ...problems].filter(Boolean).join('\n');
    }
    return (
      <button
        type="button"
        className={`jp-CartoAuth-statusButton jp-mod-${info.status}${info.error || problems.length || this._notOwner ? ' jp-mod-warning' : ''}`}
        title={title}
        aria-label={title}
        data-status={info.status}
        data-not-owner={this._notOwner ? 'true' : undefined}
        onClick={onClick}
      >
        <cartoIcon.react tag="span" className="jp-CartoAuth-statusIcon" />
        <span className="jp-CartoAuth-statusText">{label}</span>
      </button>
    );
  }

  private _tick: number;
}
