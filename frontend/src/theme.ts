import { THEMES, type ChartTheme } from "./chartView";
import { rememberTheme, themeChoice, type ThemeChoice } from "./preferences";

/** The theme button: system, light, dark in turn, remembered; "system" follows the OS. */
export class ThemeSwitch {
  private choice: ThemeChoice = themeChoice();
  private readonly dark = window.matchMedia("(prefers-color-scheme: dark)");

  constructor(
    private readonly button: HTMLButtonElement,
    private readonly show: (theme: ChartTheme) => void,
  ) {
    button.addEventListener("click", () => {
      this.choice = this.choice === "system" ? "light" : this.choice === "light" ? "dark" : "system";
      rememberTheme(this.choice);
      this.apply();
    });
    this.dark.addEventListener("change", () => {
      if (this.choice === "system") this.apply();
    });
  }

  effective(): "light" | "dark" {
    if (this.choice === "system") return this.dark.matches ? "dark" : "light";
    return this.choice;
  }

  colors(): ChartTheme {
    return THEMES[this.effective()];
  }

  apply(): void {
    const effective = this.effective();
    document.documentElement.dataset.theme = effective;
    this.button.setAttribute("aria-label", `Theme: ${this.choice} (${effective})`);
    this.button.title = `Theme: ${this.choice}`;
    this.button.textContent = this.choice === "system" ? "◐" : this.choice === "dark" ? "☾" : "☀";
    this.show(THEMES[effective]);
  }
}
