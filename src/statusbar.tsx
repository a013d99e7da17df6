// The CARTO status bar item: signed out, signing in (with cancel), signed in
// as `<email> · <org> · <region>` with time left, or the last error.
import { ReactWidget, UseSignal } from '@jupyterlab/apputils';
import type { INotebookTracker } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { ISignal, Signal } from '@lumino/signaling';
import * as React from 'react';

import type { ICartoBindings } from './bindings';
import type { ICartoProfiles } from './profiles';

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

/**
 * Which CARTO account the current notebook uses, shown with several
 * profiles (or when its binding names an account this lab is not signed in
 * to); a click chooses another.
 */
export class NotebookProfileStatus extends ReactWidget {
  constructor(
    private _profiles: ICartoProfiles,
    private _bindings: ICartoBindings,
    private _notebooks: INotebookTracker,
    private _choose: () => void,
    private _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-CartoAuth-notebookProfile');
    const update = () => {
      const relevant = this.isRelevant;
      if (relevant !== this._relevant) {
        this._relevant = relevant;
        this._relevanceChanged.emit();
      }
      this.update();
    };
    _profiles.changed.connect(update);
    _bindings.changed.connect(update);
    _notebooks.currentChanged.connect(update);
    this._relevant = this.isRelevant;
  }

  /** Whether there is something to show: a notebook, and several profiles or an unmatched binding. */
  get isRelevant(): boolean {
    const panel = this._notebooks.currentWidget;
    if (!panel) {
      return false;
    }
    return (
      this._profiles.profiles.length > 1 ||
      !this._bindings.resolve(panel).matched
    );
  }

  get relevanceChanged(): ISignal<this, void> {
    return this._relevanceChanged;
  }

  render(): JSX.Element | null {
    const trans = this._trans;
    const panel = this._notebooks.currentWidget;
    if (!panel) {
      return null;
    }
    const { profile, matched, binding } = this._bindings.resolve(panel);
    const label = matched
      ? trans.__('Notebook account: %1', profile.name)
      : trans.__(
          'Notebook account: not signed in to %1 (using %2)',
          binding?.profile ?? '',
          profile.name
        );
    const title = matched
      ? trans.__(
          'This notebook uses the CARTO account %1. Click to choose another.',
          profile.name
        )
      : trans.__(
          'This notebook is bound to %1, which this JupyterLab is not signed in to: it uses %2. Sign in to that account, or click to choose another.',
          binding?.profile ?? '',
          profile.name
        );
    return (
      <button
        type="button"
        className={`jp-CartoAuth-profileButton${matched ? '' : ' jp-mod-warning'}`}
        title={title}
        aria-label={title}
        data-profile={profile.name}
        data-matched={matched ? 'true' : 'false'}
        onClick={() => this._choose()}
      >
        <span className="jp-CartoAuth-statusText">{label}</span>
      </button>
    );
  }

  private _relevant: boolean;
  private _relevanceChanged = new Signal<this, void>(this);
}
