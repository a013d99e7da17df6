// The start-up half of the kernel bridge. From activation on it follows every
// notebook and console and registers the `carto_auth` comm target on each
// kernel as soon as it appears (so that no comm a kernel, or another lab,
// opens is refused); the bridge itself (kernels.ts with protocol.ts) and the
// grants (access.ts) load with the first kernel, the grants also with the
// account panel.
import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import type { KernelAccess } from './access';
import { TARGET } from './commtarget';
import { ICartoKernels } from './tokens';

/** A comm a kernel opened before the bridge loaded. */
export interface IEarlyOpen {
  readonly comm: Kernel.IComm;
  readonly msg: KernelMessage.ICommOpenMsg;
}

/** What the watch hands over to, once loaded (kernels.ts). */
export interface IKernelBridge extends ICartoKernels {
  /** Follow a notebook's or console's session context. */
  watch(context: ISessionContext): void;
  /** Take over a kernel seen before, and the comm it opened meanwhile. */
  adopt(
    kernel: Kernel.IKernelConnection,
    context: ISessionContext,
    open?: IEarlyOpen
  ): void;
}

/** Options of {@link KernelWatch}. */
export interface IKernelWatchOptions {
  /** Load and create the user's grants (once). */
  readonly access: () => Promise<KernelAccess>;
  /** Load and create the bridge (once), enforcing the grants. */
  readonly bridge: (access: Promise<KernelAccess>) => Promise<IKernelBridge>;
}

/**
 * The kernels service until the bridge has loaded, then a view of it.
 */
export class KernelWatch implements ICartoKernels {
  constructor(private _options: IKernelWatchOptions) {}

  /** Kernels that could not be attached changed (the bridge's signal). */
  get problemsChanged(): ISignal<this, void> {
    return this._problemsChanged;
  }

  get problems(): string[] {
    return this._bridge?.problems ?? [];
  }

  get attachedCount(): number {
    return this._bridge?.attachedCount ?? 0;
  }

  /** Whether the bridge has loaded. */
  get isLoaded(): boolean {
    return this._bridge !== null;
  }

  /** The user's grants, loaded on first call. */
  access(): Promise<KernelAccess> {
    this._access ??= this._options.access().catch(error => {
      this._access = null; // try again next time
      throw error;
    });
    return this._access;
  }

  /** The bridge, loaded on first call (the first kernel calls it). */
  bridge(): Promise<IKernelBridge> {
    this._loading ??= this._options
      .bridge(this.access())
      .then(bridge => this._handOver(bridge))
      .catch(error => {
        this._loading = null; // the next kernel tries again
        throw error;
      });
    return this._loading;
  }

  /** Follow a notebook's or console's session context, across kernel changes. */
  watch(context: ISessionContext): void {
    if (this._bridge) {
      this._bridge.watch(context);
      return;
    }
    const onKernel = () => {
      const kernel = context.session?.kernel;
      if (kernel) {
        this._hold(kernel, context);
      }
    };
    this._contexts.set(context, onKernel);
    context.kernelChanged.connect(onKernel);
    context.disposed.connect(() => {
      context.kernelChanged.disconnect(onKernel);
      this._contexts.delete(context);
    });
    onKernel();
  }

  /**
   * Register the comm target on a kernel until the bridge takes it over: a
   * comm opened meanwhile waits for the bridge (the kernel connection
   * handles its next messages once the target's promise settles).
   */
  private _hold(kernel: Kernel.IKernelConnection, context: ISessionContext) {
    if (!kernel.handleComms || kernel.isDisposed || this._held.has(kernel)) {
      return;
    }
    this._held.set(kernel, context);
    kernel.registerCommTarget(TARGET, (comm, msg) =>
      this.bridge().then(bridge => bridge.adopt(kernel, context, { comm, msg }))
    );
    kernel.disposed.connect(() => this._held.delete(kernel));
    this.bridge().catch(error =>
      console.warn(
        'jupyterlab-carto-auth: the kernel bridge did not load',
        String(error)
      )
    );
  }

  private _handOver(bridge: IKernelBridge): IKernelBridge {
    for (const [kernel, context] of this._held) {
      bridge.adopt(kernel, context);
    }
    for (const [context, onKernel] of this._contexts) {
      context.kernelChanged.disconnect(onKernel);
      bridge.watch(context);
    }
    this._held.clear();
    this._contexts.clear();
    this._bridge = bridge;
    bridge.problemsChanged.connect(() => this._problemsChanged.emit());
    this._problemsChanged.emit();
    return bridge;
  }

  private _access: Promise<KernelAccess> | null = null;
  private _loading: Promise<IKernelBridge> | null = null;
  private _bridge: IKernelBridge | null = null;
  private _contexts = new Map<ISessionContext, () => void>();
  private _held = new Map<Kernel.IKernelConnection, ISessionContext>();
  private _problemsChanged = new Signal<this, void>(this);
}
