import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "bench/results/**", "web/dist/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": ["error"],
    },
  },
  // Only the CLI, bench and scripts print; everything below them returns values.
  { files: ["src/cli/**", "bench/**", "test/**", "scripts/**", "src/bin/**"], rules: { "no-console": "off" } },
);
