// A notebook's binding to a profile (bindings.ts) over fake notebook panels:
// the metadata it reads and writes, and what follows a console and a rename.
import { Signal } from '@lumino/signaling';

import { NotebookBindings } from '../bindings';
import { ICartoProfiles, IProfile } from '../profiles';

class FakeModel {
  metadata: Record<string, unknown> = {};
  readonly metadataChanged = new Signal<this, { key: string }>(this);
  getMetadata(key: string): unknown {
    return this.metadata[key];
  }
  setMetadata(key: string, value: unknown): void {
    this.metadata[key] = value;
    this.metadataChanged.emit({ key });
  }
}

function panelAt(path: string) {
  const model = new FakeModel();
  return {
    model,
    context: { path, ready: Promise.resolve() },
    sessionContext: { path },
    disposed: new Signal<any, void>({})
  };
}

function trackerOf(panels: any[]) {
  return {
    forEach: (fn: (p: any) => void) => panels.forEach(fn),
    find: (fn: (p: any) => boolean) => panels.find(fn),
    widgetAdded: new Signal<any, any>({})
  } as any;
}

const ANA = { slot: '', name: 'ana@example.com · acme', org: 'acme' };
const BOB = { slot: 'p1', name: 'Bob', org: 'globex' };

const profiles = {
  resolve: (binding: any) => {
    const found = [ANA, BOB].find(p => p.name === binding?.profile);
    return {
      profile: (found ?? ANA) as unknown as IProfile,
      matched: !binding || !!found
    };
  }
} as unknown as ICartoProfiles;

describe('NotebookBindings', () => {
  it('reads and writes the binding in the notebook metadata, nothing else', async () => {
    const notebook = panelAt('work/a.ipynb');
    const bindings = new NotebookBindings(profiles, trackerOf([notebook]));
    await Promise.resolve();
    let changes = 0;
    bindings.changed.connect(() => changes++);
    expect(bindings.resolve(notebook as any)).toMatchObject({
      matched: true,
      binding: null,
      profile: ANA
    });

    bindings.bindPanel(notebook as any, BOB as unknown as IProfile);
    expect(notebook.model.metadata).toEqual({
      carto_auth: { profile: 'Bob', org: 'globex' }
    });
    expect(changes).toBe(1);
    expect(bindings.bindingOf(notebook.sessionContext as any)).toEqual({
      profile: 'Bob',
      org: 'globex'
    });
    // Another metadata key is not a binding change
    notebook.model.setMetadata('kernelspec', {});
    expect(changes).toBe(1);
  });

  it('binds a console like the notebook it was opened from (same path)', async () => {
    const notebook = panelAt('work/a.ipynb');
    notebook.model.metadata.carto_auth = { profile: 'Bob', org: 'globex' };
    const bindings = new NotebookBindings(profiles, trackerOf([notebook]));
    const consoleContext = { path: 'work/a.ipynb' };
    const other = { path: 'work/console-1' };
    expect(bindings.bindingOf(consoleContext as any)).toEqual({
      profile: 'Bob',
      org: 'globex'
    });
    expect(bindings.bindingOf(other as any)).toBeNull();
  });

  it('follows a rename, and says when a binding names an unknown account', () => {
    const notebook = panelAt('work/a.ipynb');
    notebook.model.metadata.carto_auth = { profile: 'Old', org: 'globex' };
    const bindings = new NotebookBindings(profiles, trackerOf([notebook]));
    expect(bindings.resolve(notebook as any)).toMatchObject({
      matched: false,
      profile: ANA
    });
    bindings.renamed('Old', 'Bob');
    expect(notebook.model.metadata.carto_auth).toEqual({
      profile: 'Bob',
      org: 'globex'
    });
    expect(bindings.resolve(notebook as any)).toMatchObject({
      matched: true,
      profile: BOB
    });
  });
});
