// Migration files are imported `with { type: "text" }`, which gives their contents.
declare module "*.sql" {
  const text: string;
  export default text;
}
