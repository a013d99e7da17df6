// Which profile each notebook uses: its binding, in the notebook's metadata
// (`carto_auth`: profile name and organization, nothing secret), so that the
// notebook picks the same account when reopened, here or on another machine
// signed in to it. A console uses the binding of the notebook it was opened
// from (same path), else the default profile.
import { ISessionContext } from '@jupyterlab/apputils';
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Token } from '@lumino/coreutils';
import { ISignal, Signal } from '@lumino/signaling';

import {
  BINDING_KEY,
  IBinding,
  ICartoProfiles,
  IProfile,
  parseBinding
} from './profiles';

/** What a notebook uses: its profile, and whether its binding matched one. */
export interface IResolved {
  readonly profile: IProfile;
  /** False: the binding names an account this lab is not signed in to. */
  readonly matched: boolean;
  readonly binding: IBinding | null;
}

/** The notebooks' bindings (internal to this extension's plugins). */
export interface ICartoBindings {
  /** A notebook's binding changed (or a notebook opened). */
  readonly changed: ISignal<ICartoBindings, void>;
  bindingOf(context: ISessionContext): IBinding | null;
  resolve(panel: NotebookPanel | null): IResolved;
  bindPanel(panel: NotebookPanel, profile: IProfile): void;
  bind(context: ISessionContext, profile: IProfile): void;
  renamed(from: string, to: string): void;
}

/**
 * The notebooks' bindings.
 */
export class NotebookBindings implements ICartoBindings {
  constructor(
    private _profiles: ICartoProfiles,
    private _notebooks: INotebookTracker | null
  ) {
    _notebooks?.forEach(panel => this._follow(panel));
    _notebooks?.widgetAdded.connect((_, panel) => this._follow(panel));
  }

  /** A notebook's binding changed (or a notebook opened). */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The notebook of a session context: its own, else one with its path (a console). */
  panelOf(context: ISessionContext): NotebookPanel | null {
    const notebooks = this._notebooks;
    if (!notebooks) {
      return null;
    }
    return (
      notebooks.find(panel => panel.sessionContext === context) ??
      notebooks.find(panel => panel.context.path === context.path) ??
      null
    );
  }

  /** The binding of a notebook, or null. */
  bindingOfPanel(panel: NotebookPanel | null): IBinding | null {
    return parseBinding(panel?.model?.getMetadata(BINDING_KEY));
  }

  /** The binding of the notebook of a session context, or null. */
  bindingOf(context: ISessionContext): IBinding | null {
    return this.bindingOfPanel(this.panelOf(context));
  }

  /** The profile a notebook uses. */
  resolve(panel: NotebookPanel | null): IResolved {
    const binding = this.bindingOfPanel(panel);
    return { ...this._profiles.resolve(binding), binding };
  }

  /** Bind a notebook to a profile (its metadata; saved with the notebook). */
  bindPanel(panel: NotebookPanel, profile: IProfile): void {
    panel.model?.setMetadata(BINDING_KEY, {
      profile: profile.name,
      org: profile.org
    });
  }

  /** Bind the notebook of a session context to a profile. */
  bind(context: ISessionContext, profile: IProfile): void {
    const panel = this.panelOf(context);
    if (panel) {
      this.bindPanel(panel, profile);
    }
  }

  /** A profile was renamed: the open notebooks bound to it follow. */
  renamed(from: string, to: string): void {
    this._notebooks?.forEach(panel => {
      const binding = this.bindingOfPanel(panel);
      if (binding?.profile === from) {
        panel.model?.setMetadata(BINDING_KEY, { ...binding, profile: to });
      }
    });
  }

  private _follow(panel: NotebookPanel): void {
    const onMetadata = (_: unknown, change: { key: string }) => {
      if (change.key === BINDING_KEY) {
        this._changed.emit();
      }
    };
    const connect = () => {
      panel.model?.metadataChanged.connect(onMetadata);
      this._changed.emit();
    };
    if (panel.model) {
      connect();
    }
    void panel.context.ready.then(() => {
      if (!panel.model) {
        return;
      }
      panel.model.metadataChanged.disconnect(onMetadata);
      connect();
    });
    panel.disposed.connect(() => this._changed.emit());
  }

  private _changed = new Signal<this, void>(this);
}

/** The notebooks' bindings (internal to this extension's plugins). */
export const ICartoBindings = new Token<ICartoBindings>(
  'jupyterlab-carto-auth:ICartoBindings',
  'Which CARTO profile each notebook uses.'
);
