// Generate an image: a model from the catalog, its fields, reference images (uploaded through
// the File Upload API, or URLs), then the task followed live until its image is there.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, ApiError, followEvents } from "../api.ts";
import { useAccount } from "../app.tsx";
import { ErrorNotice, errorAbout, Field, Loading, Notice, PageHeader, StateBadge, useLoad } from "../components/ui.tsx";
import { formatCredits, formatDuration } from "../format.ts";
import { href } from "../router.ts";
import { type ModelInfo, resultUrls, TASK_STATES, type TaskRecord, type TaskState } from "../types.ts";
import "./playground.css";

/** Where the console's uploads go in the account's files (the File Upload API's uploadPath). */
const UPLOAD_PATH = "console";
const LAST_MODEL = "imagegate.playground.model";

interface ReferenceImage {
  url: string;
  /** What the user gave: a file name, or the URL itself. */
  label: string;
}

interface UploadAnswer {
  downloadUrl: string;
  fileName: string;
}

/** The first of `names` that the model's input schema has: its own name for a field with an alias. */
function fieldOf(model: ModelInfo, names: string[]): string | null {
  const properties = Object.keys(model.inputSchema.properties);
  return properties.find((property) => names.includes(property)) ?? null;
}

const RATIO_FIELDS = ["image_size", "aspect_ratio"];
const IMAGE_FIELDS = ["image_urls", "image_input"];
/** Fields the form lays out itself; any other boolean in a model's schema becomes a checkbox. */
const LAID_OUT = new Set([...RATIO_FIELDS, ...IMAGE_FIELDS, "prompt", "resolution", "output_format"]);

/** Words for the catalog's boolean fields that the console knows; others show their own name and description. */
const FLAG_LABELS: Record<string, string> = { nsfw_checker: "Safety checker", google_search: "Ground with Google Search" };
const FLAG_HINTS: Record<string, string> = {
  nsfw_checker: "On: the provider's safety checks apply. Off: they are relaxed as far as the provider allows.",
  google_search: "Lets the model look up current facts on Google Search while it draws.",
};

/** The server's message about any of a field's names (a model's field and its alias). */
function errorAboutAny(error: unknown, names: string[]): string | null {
  for (const name of names) {
    const message = errorAbout(error, `input.${name}`);
    if (message !== null) return message;
  }
  return null;
}

export function PlaygroundPage() {
  const models = useLoad((signal) => api<ModelInfo[]>("GET", "/api/v1/models", { signal }), []);
  return (
    <section>
      <PageHeader title="Playground" />
      {models.data === null ? models.error ? <ErrorNotice error={models.error} /> : <Loading label="Loading the models…" /> : <Playground models={models.data} />}
    </section>
  );
}

function Playground({ models }: { models: ModelInfo[] }) {
  // The playground takes a prompt from here: the benchmark's time to interactive when signed in.
  useEffect(() => void performance.mark("playground-ready"), []);
  const { session, refreshCredits } = useAccount();
  const [modelId, setModelId] = useState(() => {
    const last = sessionStorage.getItem(LAST_MODEL);
    return models.some((model) => model.id === last) ? (last as string) : (models[0]?.id ?? "");
  });
  const model = models.find((candidate) => candidate.id === modelId) ?? models[0];
  const [prompt, setPrompt] = useState("");
  const [ratio, setRatio] = useState("");
  const [resolution, setResolution] = useState("");
  const [format, setFormat] = useState("");
  const [flags, setFlags] = useState<Record<string, boolean>>({});
  const [images, setImages] = useState<ReferenceImage[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [submitting, setSubmitting] = useState(false);
  const [task, setTask] = useState<TaskRecord | null>(null);
  const [startedAt, setStartedAt] = useState(0);
  const following = useRef<AbortController | null>(null);

  // A new model starts from its own defaults.
  useEffect(() => {
    if (model === undefined) return;
    sessionStorage.setItem(LAST_MODEL, model.id);
    setRatio(String(model.defaults.aspect_ratio ?? model.defaults.image_size ?? model.limits.ratios[0] ?? ""));
    setResolution(String(model.defaults.resolution ?? model.limits.resolutions[0] ?? ""));
    setFormat(String(model.defaults.output_format ?? "png"));
    setFlags({});
    setError(null);
  }, [model]);
  useEffect(() => () => following.current?.abort(), []);

  if (model === undefined) return <Notice>This server serves no model.</Notice>;
  const ratioField = fieldOf(model, RATIO_FIELDS);
  const imageField = fieldOf(model, IMAGE_FIELDS);
  const hasResolution = "resolution" in model.inputSchema.properties;
  const formats = model.inputSchema.properties.output_format?.enum?.filter((value) => value !== "jpg" || !model.inputSchema.properties.output_format?.enum?.includes("jpeg")) ?? [];
  const booleans = Object.entries(model.inputSchema.properties).filter(([name, property]) => property.type === "boolean" && !LAID_OUT.has(name));
  const price = model.prices[resolution] ?? model.price;
  const onlyAt1K = new Set(model.limits.ratiosOnlyAt1K);
  const active = task !== null && task.state !== "success" && task.state !== "fail";

  const generate = async (event: Event) => {
    event.preventDefault();
    following.current?.abort();
    setError(null);
    setSubmitting(true);
    const input: Record<string, unknown> = { prompt };
    if (ratioField !== null && ratio !== "") input[ratioField] = ratio;
    if (hasResolution && resolution !== "") input.resolution = resolution;
    if (format !== "") input.output_format = format;
    if (imageField !== null && images.length > 0) input[imageField] = images.map((image) => image.url);
    for (const [name] of booleans) if (flags[name] !== undefined) input[name] = flags[name];
    try {
      const created = await api<{ taskId: string }>("POST", "/api/v1/jobs/createTask", { body: { model: model.id, input } });
      const now = Date.now();
      setStartedAt(now);
      setTask({ taskId: created.taskId, model: model.id, state: "waiting", param: "", resultJson: null, failCode: null, failMsg: null, costTime: null, completeTime: null, createTime: now, updateTime: now, creditsConsumed: null });
      refreshCredits();
      const controller = new AbortController();
      following.current = controller;
      void follow(created.taskId, controller.signal);
      // On a narrow screen the result sits under the form: bring it into view.
      if (matchMedia("(max-width: 760px)").matches) document.querySelector(".result")?.scrollIntoView({ behavior: "smooth", block: "start" });
    } catch (caught) {
      setError(caught);
    } finally {
      setSubmitting(false);
    }
  };

  /** The task's states as they happen, from streamInfo; recordInfo once if the stream breaks. */
  const follow = async (taskId: string, signal: AbortSignal) => {
    try {
      await followEvents(`/api/v1/jobs/streamInfo?taskId=${encodeURIComponent(taskId)}`, (name, data) => {
        if (name === "state" && typeof data === "object" && data !== null) setTask(data as TaskRecord);
      }, signal);
    } catch (caught) {
      if (signal.aborted) return;
      try {
        setTask(await api<TaskRecord>("GET", `/api/v1/jobs/recordInfo?taskId=${encodeURIComponent(taskId)}`, { signal }));
      } catch {
        setError(caught);
      }
    } finally {
      if (!signal.aborted) refreshCredits();
    }
  };

  const imageNames = imageField === null ? [] : IMAGE_FIELDS;
  return (
    <div class="grid-2 playground">
      <form class="card" onSubmit={generate} noValidate aria-label="Generate an image">
        {error instanceof ApiError && error.field === null ? <ErrorNotice error={error} /> : null}
        {error !== null && !(error instanceof ApiError) ? <ErrorNotice error={error} /> : null}
        <Field label="Model" error={errorAbout(error, "model")} hint={`${model.description} ${formatCredits(price)} an image${session.mode === "test" ? " (free with a test-mode key)" : ""}.`}>
          {(id, describedBy) => (
            <select id={id} value={model.id} onChange={(event) => setModelId(event.currentTarget.value)} aria-describedby={describedBy}>
              {models.map((candidate) => (
                <option key={candidate.id} value={candidate.id}>
                  {candidate.id}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field
          label="Prompt"
          error={errorAbout(error, "input.prompt")}
          hint={`${prompt.length.toLocaleString()} of ${model.limits.promptMaxCharacters.toLocaleString()} characters`}
        >
          {(id, describedBy) => (
            <textarea
              id={id}
              name="prompt"
              rows={5}
              value={prompt}
              placeholder="A banana-shaped spaceship over a misty lake at dawn"
              onInput={(event) => setPrompt(event.currentTarget.value)}
              onKeyDown={(event) => {
                if (event.key === "Enter" && (event.metaKey || event.ctrlKey)) event.currentTarget.form?.requestSubmit();
              }}
              aria-describedby={describedBy}
              aria-invalid={errorAbout(error, "input.prompt") !== null}
            />
          )}
        </Field>
        <div class="row">
          {ratioField !== null ? (
            <Field label="Aspect ratio" error={errorAboutAny(error, RATIO_FIELDS)}>
              {(id, describedBy) => (
                <select id={id} value={ratio} onChange={(event) => setRatio(event.currentTarget.value)} aria-describedby={describedBy}>
                  {model.limits.ratios.map((value) => (
                    <option key={value} value={value} disabled={onlyAt1K.has(value) && resolution !== "1K"}>
                      {value}
                    </option>
                  ))}
                </select>
              )}
            </Field>
          ) : null}
          {hasResolution ? (
            <Field label="Resolution" error={errorAbout(error, "input.resolution")}>
              {(id, describedBy) => (
                <select id={id} value={resolution} onChange={(event) => setResolution(event.currentTarget.value)} aria-describedby={describedBy}>
                  {model.limits.resolutions.map((value) => (
                    <option key={value} value={value} disabled={value !== "1K" && onlyAt1K.has(ratio)}>
                      {value}
                    </option>
                  ))}
                </select>
              )}
            </Field>
          ) : null}
          {formats.length > 0 ? (
            <Field label="Format" error={errorAbout(error, "input.output_format")}>
              {(id, describedBy) => (
                <select id={id} value={format === "jpg" && !formats.includes("jpg") ? "jpeg" : format} onChange={(event) => setFormat(event.currentTarget.value)} aria-describedby={describedBy}>
                  {formats.map((value) => (
                    <option key={value} value={value}>
                      {value.toUpperCase()}
                    </option>
                  ))}
                </select>
              )}
            </Field>
          ) : null}
        </div>
        {imageField !== null && model.limits.inputImages !== null ? (
          <ReferenceImages
            images={images}
            onChange={setImages}
            min={model.limits.inputImages.min}
            max={model.limits.inputImages.max}
            serverError={errorAboutAny(error, imageNames)}
          />
        ) : null}
        {booleans.map(([name, property]) => (
          <div class="field" key={name}>
            <label class="checkbox">
              <input
                type="checkbox"
                checked={flags[name] ?? Boolean(model.defaults[name] ?? false)}
                onChange={(event) => setFlags({ ...flags, [name]: event.currentTarget.checked })}
              />
              {FLAG_LABELS[name] ?? name}
            </label>
            <p class="field-hint">{FLAG_HINTS[name] ?? property.description}</p>
            {errorAbout(error, `input.${name}`) !== null ? <p class="field-error" role="alert">{errorAbout(error, `input.${name}`)}</p> : null}
          </div>
        ))}
        <div class="generate-row">
          <button type="submit" class="button-primary" disabled={submitting}>
            {submitting ? "Creating the task…" : active ? "Generate another" : "Generate"}
          </button>
          <span class="muted small">Ctrl+Enter in the prompt generates too.</span>
        </div>
      </form>
      <Result task={task} startedAt={startedAt} />
    </div>
  );
}

/** Reference images: dropped or picked files go through the File Upload API; URLs are used as they are. */
function ReferenceImages(props: { images: ReferenceImage[]; onChange: (images: ReferenceImage[]) => void; min: number; max: number; serverError: string | null }) {
  const [uploading, setUploading] = useState<string | null>(null);
  const [uploadError, setUploadError] = useState<string | null>(null);
  const [url, setUrl] = useState("");
  const [dragging, setDragging] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const room = props.max - props.images.length;
  const error = uploadError ?? props.serverError;

  const upload = async (files: File[]) => {
    setUploadError(null);
    const accepted = files.slice(0, Math.max(0, room));
    if (files.length > accepted.length) setUploadError(`This model takes at most ${props.max} images; ${files.length - accepted.length} left out.`);
    const added: ReferenceImage[] = [];
    for (const [index, file] of accepted.entries()) {
      setUploading(`Uploading ${file.name} (${index + 1} of ${accepted.length})…`);
      const form = new FormData();
      form.append("uploadPath", UPLOAD_PATH);
      form.append("file", file, file.name);
      try {
        const answer = await api<UploadAnswer>("POST", "/api/file-stream-upload", { body: form });
        added.push({ url: answer.downloadUrl, label: file.name });
      } catch (caught) {
        setUploadError(`${file.name}: ${caught instanceof Error ? caught.message : String(caught)}`);
        break;
      }
    }
    setUploading(null);
    if (added.length > 0) props.onChange([...props.images, ...added]);
  };

  const addUrl = () => {
    const given = url.trim();
    if (given === "") return;
    props.onChange([...props.images, { url: given, label: given }]);
    setUrl("");
  };

  return (
    <fieldset class={`field reference-images${error !== null ? " field-invalid" : ""}`}>
      <legend class="label">
        Reference images <span class="muted small">({props.images.length} of {props.max}{props.min > 0 ? `, at least ${props.min}` : ", optional"})</span>
      </legend>
      <div
        class={`dropzone${dragging ? " dropzone-active" : ""}`}
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(event) => {
          event.preventDefault();
          setDragging(false);
          void upload([...(event.dataTransfer?.files ?? [])].filter((file) => file.type.startsWith("image/")));
        }}
      >
        <p>
          Drop images here or{" "}
          <button type="button" class="button-link" onClick={() => fileInput.current?.click()} disabled={room <= 0 || uploading !== null}>
            choose files
          </button>
        </p>
        <input
          ref={fileInput}
          type="file"
          accept="image/png,image/jpeg,image/webp"
          multiple
          class="visually-hidden"
          aria-label="Choose reference images"
          tabIndex={-1}
          onChange={(event) => {
            void upload([...(event.currentTarget.files ?? [])]);
            event.currentTarget.value = "";
          }}
        />
        {uploading !== null ? <p class="muted small" role="status">{uploading}</p> : null}
      </div>
      <div class="url-row">
        <label for="reference-url" class="visually-hidden">
          Image URL
        </label>
        <input
          id="reference-url"
          type="url"
          placeholder="or paste an image URL"
          value={url}
          onInput={(event) => setUrl(event.currentTarget.value)}
          onKeyDown={(event) => {
            if (event.key === "Enter") {
              event.preventDefault();
              addUrl();
            }
          }}
        />
        <button type="button" class="button-secondary" onClick={addUrl} disabled={room <= 0}>
          Add URL
        </button>
      </div>
      {props.images.length > 0 ? (
        <ul class="reference-list">
          {props.images.map((image, index) => (
            <li key={`${image.url}-${index}`}>
              {/^https?:\/\//i.test(image.url) ? (
                <img src={image.url} alt={`Reference image ${index + 1}: ${image.label}`} loading="lazy" />
              ) : (
                <span class="reference-unknown" title={image.label}>
                  {`Reference image ${index + 1}: not an http(s) URL`}
                </span>
              )}
              <button type="button" class="button-secondary reference-remove" aria-label={`Remove reference image ${index + 1}`} onClick={() => props.onChange(props.images.filter((_, other) => other !== index))}>
                ×
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      {error !== null ? (
        <p class="field-error" role="alert">
          {error}
        </p>
      ) : null}
    </fieldset>
  );
}

const STEPS: TaskState[] = TASK_STATES.filter((state) => state !== "fail");

/** The task being generated: its states as they pass, then the image or the failure. */
function Result({ task, startedAt }: { task: TaskRecord | null; startedAt: number }) {
  const [size, setSize] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());
  const url = task === null ? undefined : resultUrls(task)[0];
  const settled = task !== null && (task.state === "success" || task.state === "fail");
  useEffect(() => setSize(null), [url]);
  useEffect(() => {
    if (task === null || settled) return;
    const timer = setInterval(() => setNow(Date.now()), 200);
    return () => clearInterval(timer);
  }, [task?.taskId, settled]);
  const reached = useMemo(() => (task === null ? -1 : task.state === "fail" ? -1 : STEPS.indexOf(task.state)), [task]);

  if (task === null) {
    return (
      <div class="card result result-empty">
        <p class="muted">Your image appears here. Pick a model, write a prompt, then Generate.</p>
      </div>
    );
  }
  return (
    <div class="card result" aria-live="polite">
      <div class="result-head">
        <h2>
          <a href={href(`/tasks/${task.taskId}`)} class="mono">
            {task.taskId}
          </a>
        </h2>
        <StateBadge state={task.state} />
      </div>
      <ol class="steps" aria-label="Task states">
        {STEPS.map((step, index) => (
          <li key={step} class={index < reached || task.state === "success" ? "step-done" : index === reached ? "step-current" : ""} aria-current={index === reached ? "step" : undefined}>
            {step}
          </li>
        ))}
      </ol>
      {!settled ? <p class="muted small">{formatDuration(now - startedAt)} so far…</p> : null}
      {task.state === "fail" ? (
        <Notice kind="error">
          <strong>{task.failCode ?? "Failed"}</strong>: {task.failMsg ?? "The task failed."}
        </Notice>
      ) : null}
      {url !== undefined ? (
        <figure class="result-figure">
          <img src={url} alt={`The generated image for task ${task.taskId}`} onLoad={(event) => setSize(`${event.currentTarget.naturalWidth} × ${event.currentTarget.naturalHeight}`)} />
          <figcaption>
            <dl class="facts">
              <dt>Size</dt>
              <dd>{size ?? "…"}</dd>
              <dt>Cost</dt>
              <dd>{formatCredits(task.creditsConsumed)}</dd>
              <dt>Time</dt>
              <dd>{formatDuration(task.costTime)}</dd>
            </dl>
            <a class="button-primary download" href={url} download>
              Download
            </a>
          </figcaption>
        </figure>
      ) : null}
    </div>
  );
}
